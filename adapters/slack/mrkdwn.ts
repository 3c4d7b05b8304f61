/**
 * Converts the assistant's Markdown into Slack mrkdwn: bold, italics, strikethrough, links,
 * headings, lists, quotes and code. Code spans and blocks pass through untouched (a fence's
 * language hint is dropped, since Slack would show it as text); `&`, `<` and `>` are escaped.
 *
 * @example toMrkdwn('**Hi** [docs](https://x.io)') // '*Hi* <https://x.io|docs>'
 */
export function toMrkdwn(markdown: string): string {
  const saved: string[] = [];
  const keep = (s: string) => `\u0000${saved.push(s) - 1}\u0000`;
  let t = markdown.replace(/\r\n/g, '\n');
  // code blocks, then inline code
  t = t.replace(/^([ \t]*)(`{3,}|~{3,})[^\n]*\n([\s\S]*?)\n[ \t]*\2[ \t]*$/gm, (_m, _i, _f, code: string) => keep('```\n' + escape(code) + '\n```'));
  t = t.replace(/`([^`\n]+)`/g, (_m, code: string) => keep('`' + escape(code) + '`'));
  // links and images before escaping, so their URLs stay intact
  t = t.replace(/!\[([^\]]*)\]\((\S+?)(?:\s+"[^"]*")?\)/g, (_m, alt: string, url: string) => keep(`<${url}|${escape(alt || 'image')}>`));
  t = t.replace(/\[([^\]]+)\]\((\S+?)(?:\s+"[^"]*")?\)/g, (_m, label: string, url: string) => keep(`<${url}|${escape(label)}>`));
  t = t.replace(/<(https?:\/\/[^>\s]+)>/g, (_m, url: string) => keep(`<${url}>`));
  t = escape(t);
  // headings become bold lines
  t = t.replace(/^#{1,6}\s+(.+?)\s*#*\s*$/gm, (_m, h: string) => keep(`*${h.replace(/\*\*/g, '')}*`));
  // bold first (to a placeholder), then italics, then strikethrough
  t = t.replace(/\*\*\*(?=\S)([\s\S]*?\S)\*\*\*/g, (_m, b: string) => keep(`*_${b}_*`));
  t = t.replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, (_m, b: string) => keep(`*${b}*`));
  t = t.replace(/__(?=\S)([\s\S]*?\S)__/g, (_m, b: string) => keep(`*${b}*`));
  t = t.replace(/(^|[^\w*])\*(?=\S)([^*\n]*?\S)\*(?!\w)/g, (_m, pre: string, i: string) => `${pre}_${i}_`);
  t = t.replace(/~~(?=\S)([\s\S]*?\S)~~/g, (_m, s: string) => `~${s}~`);
  // bullets; a horizontal rule becomes a line
  t = t.replace(/^([ \t]*)[-*+][ \t]+/gm, (_m, indent: string) => `${indent}• `);
  t = t.replace(/^[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*$/gm, '───');
  // quotes were escaped to &gt; above; Slack wants the raw >
  t = t.replace(/^&gt;[ \t]?/gm, '> ');
  // restore placeholders (they may nest)
  for (let i = 0; i < 3 && t.includes('\u0000'); i++) t = t.replace(/\u0000(\d+)\u0000/g, (_m, n: string) => saved[Number(n)]);
  return t;
}

function escape(s: string): string {
  return s.replace(/&(?!(?:amp|lt|gt);)/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
