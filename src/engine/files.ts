import type { ModelBackend, TurnFile, TurnMessage } from '../backends/backend.js';
import type { Logger } from '../log.js';
import type { Inbound, PlatformPort } from './types.js';

/**
 * Types a person may share with the assistant by default: text and data, PDF, Office documents,
 * images. `text/html` is not among them: Slack answers an unauthorised download with a login page.
 */
export const DEFAULT_FILE_TYPES = [
  'text/plain',
  'text/csv',
  'text/tab-separated-values',
  'text/markdown',
  'text/x-markdown',
  'application/json',
  'application/pdf',
  'application/msword',
  'application/vnd.ms-excel',
  'application/vnd.ms-powerpoint',
  'application/vnd.openxmlformats-officedocument.*',
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
];

export interface FileOptions {
  /** FILE_MAX_BYTES: larger files (as declared, or as they arrive) are refused. */
  maxBytes: number;
  /** FILE_TYPES: media types, `type/*` or `prefix.*` patterns. */
  types: string[];
}

/** Whether a media type matches one of the patterns (`text/csv`, `image/*`, `application/vnd.openxmlformats-officedocument.*`). */
export function typeAllowed(type: string, patterns: string[]): boolean {
  const t = type.toLowerCase();
  return patterns.some((p) => {
    const q = p.toLowerCase();
    return q.endsWith('*') ? t.startsWith(q.slice(0, -1)) : t === q;
  });
}

function megabytes(n: number): string {
  return `${Math.round((n / (1024 * 1024)) * 10) / 10} MB`;
}

/**
 * The files of a turn's messages, fetched through their platform, checked against the size cap,
 * the type allowlist and what the backend can take. Each refused file gets one short line in the
 * thread saying which and why; the message is answered all the same.
 */
export class SharedFiles {
  constructor(private readonly deps: { platforms: Partial<Record<string, PlatformPort>>; backend: ModelBackend; log: Logger; options: FileOptions }) {}

  /** `assistant`: the named assistant that will read them (where there are several). */
  async gather(m: Inbound, assistant?: string): Promise<TurnFile[]> {
    const out: TurnFile[] = [];
    for (const ref of m.files ?? []) {
      const why = this.refusal(ref.contentType, ref.size, ref.name, assistant) ?? ref.unavailable;
      if (why) {
        await this.refuse(m, ref.name, why);
        continue;
      }
      const port = this.deps.platforms[m.target.platform];
      if (!port?.fetchFile) {
        await this.refuse(m, ref.name, 'files cannot be read here');
        continue;
      }
      try {
        const got = await port.fetchFile(ref, this.deps.options.maxBytes);
        // the platform's type wins over what its server labelled the download (octet-stream, say)
        out.push({ name: got.name, contentType: got.contentType || ref.contentType, bytes: got.bytes });
      } catch (err) {
        this.deps.log.warn({ conversation: m.key, file: ref.name, reason: (err as Error).message }, 'shared file not read');
        await this.refuse(m, ref.name, (err as Error).message);
      }
    }
    return out;
  }

  private refusal(type: string, size: number, name: string, assistant?: string): string | undefined {
    const { maxBytes, types } = this.deps.options;
    if (size > maxBytes) return `it is ${megabytes(size)}, more than the ${megabytes(maxBytes)} I can read`;
    if (!typeAllowed(type, types)) return `I do not read ${type || 'files of unknown type'} files`;
    return this.deps.backend.acceptsFile?.(type, name, assistant);
  }

  private async refuse(m: Inbound, name: string, why: string): Promise<void> {
    await m.sink.notice(`I could not read ${name.slice(0, 120)}: ${why}.`).catch((err: unknown) => this.deps.log.warn({ err, conversation: m.key }, 'could not say a file was refused'));
  }
}

/**
 * A turn's messages as the backend takes them: each cut at `maxInputChars` (the person told), its
 * files fetched and named for the model (a backend may pass the bytes without names, as file ids),
 * the speaker's name before the text where several people talk.
 */
export async function turnMessages(batch: Inbound[], o: { maxInputChars: number; files: SharedFiles; assistant?: string }): Promise<TurnMessage[]> {
  const messages: TurnMessage[] = [];
  for (const m of batch) {
    let text = m.text;
    if (text.length > o.maxInputChars) {
      text = `${text.slice(0, o.maxInputChars)}\n[message cut: it was ${m.text.length} characters long]`;
      await m.sink.notice(`Your message was very long, so I read only its first ${o.maxInputChars.toLocaleString('en-US')} characters.`);
    }
    const files = await o.files.gather(m, o.assistant);
    if (files.length) text = `${text}${text ? '\n\n' : ''}[shared: ${files.map((f) => f.name).join(', ')}]`;
    messages.push({ text: m.group ? `${m.author.name}: ${text}` : text, authorId: m.author.id, authorName: m.author.name, at: m.at, metadata: m.metadata, ...(files.length ? { files } : {}) });
  }
  return messages;
}
