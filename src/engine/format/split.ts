/**
 * A code fence line: up to MAX_MARKER backticks or tildes (indented at most three spaces, as in
 * CommonMark) and an info string. A backtick fence's info string holds no backtick (CommonMark
 * again), so a one-line span such as ```` ```x``` ```` is text, not a fence. Longer markers and
 * fence lines longer than MAX_FENCE_LINE are treated as text too: a fence we reopen in the next
 * message must stay short whatever the model wrote, or a single line could fill every message
 * (the splitter crash loop of issue 19).
 */
const FENCE = /^ {0,3}(`{3,}|~{3,})([^\n]*)$/;
const MAX_MARKER = 8;
const MAX_FENCE_LINE = 200;
/** The language tag kept when a fence is reopened. */
const MAX_LANG = 24;

function fenceOf(line: string): { marker: string; info: string } | undefined {
  if (line.length > MAX_FENCE_LINE) return undefined;
  const m = FENCE.exec(line);
  if (!m || m[1].length > MAX_MARKER) return undefined;
  if (m[1][0] === '`' && m[2].includes('`')) return undefined;
  return { marker: m[1], info: m[2] };
}

/** Whether `line` closes a block opened with `marker`: the same character, at least as many, nothing after. */
function closes(line: string, marker: string): boolean {
  const m = FENCE.exec(line);
  return !!m && m[1].startsWith(marker[0]) && m[1].length >= marker.length && !m[2].trim();
}

/** The line that reopens a block in the next message: its marker and a short language tag, nothing more. */
function reopenLine(f: { marker: string; info: string }): string {
  const lang = (f.info.trim().split(/\s+/)[0] ?? '').replace(/[^\w#+.-]/g, '').slice(0, MAX_LANG);
  return `${f.marker}${lang}`;
}

/**
 * The code fence left open at the end of `text`, as the short line that reopens it (marker and
 * language tag), or undefined.
 */
export function openFenceAtEnd(text: string): string | undefined {
  return openFence(text)?.reopen;
}

function openFence(text: string): { marker: string; reopen: string } | undefined {
  let open: { marker: string; reopen: string } | undefined;
  let from = 0;
  while (from <= text.length) {
    let to = text.indexOf('\n', from);
    if (to < 0) to = text.length;
    const line = text.slice(from, to);
    if (open) {
      if (closes(line, open.marker)) open = undefined;
    } else {
      const f = line.length <= MAX_FENCE_LINE ? fenceOf(line) : undefined;
      if (f) open = { marker: f.marker, reopen: reopenLine(f) };
    }
    from = to + 1;
  }
  return open;
}

/**
 * How a code block left open at `at` (where one streamed message ends) continues in the next:
 * `close` ends the first message (the block's own closing line when it comes next, else a fence
 * of ours, `skip` saying how much of the text it took) and `reopen` starts the next one with the
 * block's language. Undefined when no block is open there.
 */
export function fenceAcross(text: string, at: number): { close: string; reopen: string; skip: number } | undefined {
  const open = openFence(text.slice(0, at));
  if (!open) return undefined;
  const own = /^\n?([^\n]*)\n/.exec(text.slice(at, at + MAX_FENCE_LINE + 2));
  if (own && closes(own[1], open.marker)) return { close: own[0], reopen: '', skip: own[0].length };
  return { close: `\n${open.marker}`, reopen: `${open.reopen}\n`, skip: 0 };
}

/** Most characters a split adds to one message: a reopened fence line and a closing fence. */
export const SPLIT_OVERHEAD = MAX_MARKER + MAX_LANG + 1 + MAX_MARKER + 1;

/**
 * Splits text into messages of at most `limit` characters, breaking at paragraphs, then lines,
 * then spaces. A code fence cut in two is closed at the end of one message and reopened (with
 * its language) at the start of the next, so every message renders on its own.
 *
 * Every pass consumes input, so this always ends: a message carries at most SPLIT_OVERHEAD
 * characters that were not in the text, and never more than `limit`.
 *
 * @example splitMessage(longMarkdown, 2000) // Discord's limit
 */
export function splitMessage(text: string, limit: number): string[] {
  if (limit < 200) throw new RangeError('limit too small');
  const out: string[] = [];
  let reopen = '';
  let rest = text;
  while (reopen.length + rest.length > limit) {
    const budget = limit - reopen.length - (MAX_MARKER + 1); // room for a closing "\n```"
    const window = rest.slice(0, budget);
    const floor = Math.floor(budget * 0.3);
    let cut = window.lastIndexOf('\n\n');
    if (cut < floor) cut = window.lastIndexOf('\n');
    if (cut < floor) cut = window.lastIndexOf(' ');
    if (cut < floor) cut = budget;
    // budget > 0.3 * budget >= 1 since limit >= 200 and reopen is short: every pass takes at least one character
    const taken = rest.slice(0, cut);
    rest = rest.slice(cut).replace(/^\n+/, '').replace(/^ /, '');
    if (!taken.trim()) continue; // only blank space: the open fence (if any) stays open for what follows
    let chunk = (reopen + taken).trimEnd();
    const fence = openFence(chunk);
    if (fence) {
      chunk += `\n${fence.marker}`;
      reopen = `${fence.reopen}\n`;
    } else {
      reopen = '';
    }
    out.push(chunk);
  }
  const last = (reopen + rest).trimEnd();
  if (last.trim() && last.trim() !== reopen.trim()) out.push(last);
  return out.length ? out : [''];
}

/**
 * The messages a reply is shown in, at most `max`: when the split needs more, the last one says
 * the whole answer is attached (the caller attaches `text` as a file), so one reply can never
 * flood a channel.
 */
export function capMessages(chunks: string[], max: number): { shown: string[]; overflow: boolean } {
  if (chunks.length <= max) return { shown: chunks, overflow: false };
  const shown = chunks.slice(0, Math.max(1, max - 1));
  shown.push(`_(This answer is long: the rest, and the whole answer, are attached as ${OVERFLOW_FILENAME}.)_`);
  return { shown, overflow: true };
}

export const OVERFLOW_FILENAME = 'answer.md';
/** The most messages one reply (or notice) is posted in; the rest goes as a file. */
export const MAX_MESSAGES_PER_REPLY = 10;
