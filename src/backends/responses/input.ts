import type { TurnMessage } from '../backend.js';
import type { HistoryItem } from './history.js';

/** Characters of one shared text file given to the model at most. */
const FILE_TEXT_CHARS = 100_000;

/**
 * A person's message as a history item. DashScope documents `input_image` (vision models) but no
 * `input_file` for the Responses API (docs/dashscope-responses-api.md §1.3): text files are given
 * inline, images as data URLs; other types are refused before they are fetched (`acceptsFile`).
 */
export function user(m: TurnMessage): HistoryItem {
  let text = m.text;
  const images: Array<{ name: string; url: string }> = [];
  for (const f of m.files ?? []) {
    if (f.contentType.startsWith('image/')) {
      images.push({ name: f.name, url: `data:${f.contentType};base64,${Buffer.from(f.bytes).toString('base64')}` });
      continue;
    }
    const content = Buffer.from(f.bytes).toString('utf8');
    const cut = content.length > FILE_TEXT_CHARS;
    text += `\n\n--- ${f.name} (${f.contentType}) ---\n${cut ? content.slice(0, FILE_TEXT_CHARS) : content}${cut ? `\n[the rest of ${f.name} was cut: it has ${content.length} characters]` : ''}\n--- end of ${f.name} ---`;
  }
  return images.length ? { type: 'message', role: 'user', text, images } : { type: 'message', role: 'user', text };
}

/** Text and data files are read inline, images as images; PDF and Office documents have no documented input on the Responses API. */
export function responsesAccepts(contentType: string): string | undefined {
  const t = contentType.toLowerCase();
  if (t.startsWith('text/') || t === 'application/json' || t.startsWith('image/')) return undefined;
  return 'this assistant (on the Responses API) reads text, data and images only';
}
