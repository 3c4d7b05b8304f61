const FENCE = /^\s*(`{3,}|~{3,})(.*)$/;

/** The opening line of a code fence left open at the end of `text`, or undefined. */
export function openFenceAtEnd(text: string): string | undefined {
  let open: string | undefined;
  let marker = '';
  for (const line of text.split('\n')) {
    const m = FENCE.exec(line);
    if (!m) continue;
    if (open === undefined) {
      open = line.trim();
      marker = m[1];
    } else if (m[1].startsWith(marker[0]) && m[1].length >= marker.length && !m[2].trim()) {
      open = undefined;
    }
  }
  return open;
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
      chunk += `\n${fence.match(/^(`{3,}|~{3,})/)![1]}`;
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
