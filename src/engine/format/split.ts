const FENCE = /^\s*(`{3,}|~{3,})(.*)$/;

/** The fence characters (```` ``` ```` or `~~~`, possibly longer) that open a fence line. */
function markerOf(fenceLine: string): string {
  return FENCE.exec(fenceLine)![1];
}

/** Whether `line` closes a block opened with `marker`: the same character, at least as many, nothing after. */
function closes(line: string, marker: string): boolean {
  const m = FENCE.exec(line);
  return !!m && m[1].startsWith(marker[0]) && m[1].length >= marker.length && !m[2].trim();
}

/** The opening line of a code fence left open at the end of `text`, or undefined. */
export function openFenceAtEnd(text: string): string | undefined {
  let open: string | undefined;
  let marker = '';
  for (const line of text.split('\n')) {
    if (open !== undefined) {
      if (closes(line, marker)) open = undefined;
    } else if (FENCE.test(line)) {
      open = line.trim();
      marker = markerOf(line);
    }
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
  const open = openFenceAtEnd(text.slice(0, at));
  if (!open) return undefined;
  const marker = markerOf(open);
  const own = /^\n?([^\n]*)\n/.exec(text.slice(at));
  if (own && closes(own[1]!, marker)) return { close: own[0], reopen: '', skip: own[0].length };
  const lang = open.slice(marker.length).trim().split(/\s+/)[0]!.slice(0, 24);
  return { close: `\n${marker}`, reopen: `${marker}${lang}\n`, skip: 0 };
}

/**
 * Splits text into messages of at most `limit` characters, breaking at paragraphs, then lines,
 * then spaces. A code fence cut in two is closed at the end of one message and reopened (with
 * its language) at the start of the next, so every message renders on its own.
 *
 * @example splitMessage(longMarkdown, 2000) // Discord's limit
 */
export function splitMessage(text: string, limit: number): string[] {
  if (limit < 40) throw new RangeError('limit too small');
  const out: string[] = [];
  let reopen = '';
  let rest = text;
  while ((reopen + rest).length > limit) {
    const body = reopen + rest;
    const budget = limit - 4; // room for a closing "\n```"
    const window = body.slice(0, budget);
    const floor = Math.max(reopen.length + 1, Math.floor(budget * 0.3));
    let cut = window.lastIndexOf('\n\n');
    if (cut < floor) cut = window.lastIndexOf('\n');
    if (cut < floor) cut = window.lastIndexOf(' ');
    if (cut < floor) cut = budget;
    let chunk = body.slice(0, cut).trimEnd();
    rest = body.slice(cut).replace(/^\n+/, '').replace(/^ /, '');
    const fence = openFenceAtEnd(chunk);
    if (fence) {
      chunk += `\n${markerOf(fence)}`;
      reopen = `${fence}\n`;
    } else {
      reopen = '';
    }
    if (chunk.trim()) out.push(chunk);
  }
  const last = (reopen + rest).trimEnd();
  if (last.trim() && last.trim() !== reopen.trim()) out.push(last);
  return out.length ? out : [''];
}
