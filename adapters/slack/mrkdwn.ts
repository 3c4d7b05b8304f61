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
  // links and images before escaping, so their URLs stay intact; a URL may hold one level of
  // parentheses (Wikipedia's `Foo_(bar)`), and only http(s) and mailto targets become links
  // (bounded quantifiers throughout: unbounded ones rescan the text for every `![`, quadratic on hostile input)
  t = t.replace(/!\[([^\]\n]{0,500})\]\(((?:[^()\s]|\([^()\s]{0,200}\)){1,2048})(?:\s+"[^"\n]{0,300}")?\)/g, (_m, alt: string, url: string) => keep(link(url, alt || 'image')));
  t = t.replace(/\[([^\]\n]{1,500})\]\(((?:[^()\s]|\([^()\s]{0,200}\)){1,2048})(?:\s+"[^"\n]{0,300}")?\)/g, (_m, label: string, url: string) => keep(link(url, label)));
  t = t.replace(/<(https?:\/\/[^>\s|]+)>/g, (_m, url: string) => keep(`<${safeUrl(url)}>`));
  t = escape(t);
  // headings become bold lines
  t = t.replace(/^#{1,6}\s+(.+?)\s*#*\s*$/gm, (_m, h: string) => keep(`*${h.replace(/\*\*/g, '')}*`));
  // bold first (to a placeholder), then italics, then strikethrough
  t = t.replace(/\*\*\*(?=\S)([^\n]{0,2000}?\S)\*\*\*/g, (_m, b: string) => keep(`*_${b}_*`));
  t = t.replace(/\*\*(?=\S)([^\n]{0,2000}?\S)\*\*/g, (_m, b: string) => keep(`*${b}*`));
  // `__init__` and other dunder names stay as written: underscores make bold only around more than one word
  t = t.replace(/(?<!\w)__(?=\S)([^\n]{0,2000}?\S)__(?!\w)/g, (m, b: string) => (/^\w+$/.test(b) ? m : keep(`*${b}*`)));
  t = t.replace(/(^|[^\w*])\*(?=\S)([^*\n]*?\S)\*(?!\w)/g, (_m, pre: string, i: string) => `${pre}_${i}_`);
  t = t.replace(/~~(?=\S)([^\n]{0,2000}?\S)~~/g, (_m, s: string) => `~${s}~`);
  // bullets; a horizontal rule becomes a line
  t = t.replace(/^([ \t]*)[-*+][ \t]+/gm, (_m, indent: string) => `${indent}• `);
  t = t.replace(/^[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*$/gm, '───');
  // quotes were escaped to &gt; above; Slack wants the raw >
  t = t.replace(/^&gt;[ \t]?/gm, '> ');
  // restore placeholders (they may nest)
  // eslint-disable-next-line no-control-regex -- NUL brackets the placeholders: it never occurs in Slack text
  for (let i = 0; i < 3 && t.includes('\u0000'); i++) t = t.replace(/\u0000(\d+)\u0000/g, (_m, n: string) => saved[Number(n)]);
  return neutralizeMentions(t);
}

/** A Slack link: only http(s) and mailto targets (`[x](!channel)` would become `<!channel|x>`, a ping); anything else stays text. */
function link(url: string, label: string): string {
  if (!/^(https?:\/\/|mailto:)/i.test(url)) return `${escape(label)} (${escape(url)})`;
  const host = /^https?:\/\/([^/?#]+)/i.exec(url)?.[1]?.toLowerCase();
  // a label that looks like another address (`[https://bank](https://evil)`) shows the real host
  const shown = host && /^(https?:\/\/|www\.)/i.test(label.trim()) && !label.toLowerCase().includes(host) ? `${label} (${host})` : label;
  return `<${safeUrl(url)}|${escape(shown).replace(/\|/g, '¦')}>`;
}

/** `<`, `>` and `|` end a Slack link early: percent-encoded inside a URL. */
function safeUrl(url: string): string {
  return url.replace(/[<>|]/g, (c) => encodeURIComponent(c));
}

/**
 * Nothing the bot posts can ping a channel or a person: `<!channel>`, `<!here>`, `<@U…>`, `<#C…>`
 * and plain `@here` / `@channel` / `@everyone` get a zero-width space, so they show as written and
 * ping no one. Applied to the whole text (streamed text is held back while it ends in `<` or `@…`,
 * so a piece already sent never changes).
 *
 * @example neutralizeMentions('<!channel> hi') // '<\u200b!channel> hi'
 */
export function neutralizeMentions(text: string): string {
  return text.replace(/<([!@#])/g, '<\u200b$1').replace(/@(here|channel|everyone)\b/gi, '@\u200b$1');
}

/** How much of a text still being written can be sent without cutting a mention in two (see neutralizeMentions). */
export function sendableLength(text: string): number {
  const m = /(<|@[a-z]{0,8})$/i.exec(text);
  return m ? text.length - m[0].length : text.length;
}

function escape(s: string): string {
  return s
    .replace(/&(?!(?:amp|lt|gt);)/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}
