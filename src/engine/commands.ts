/** The words a person can say to Threadline on any platform. */
export type Command =
  | { name: 'help' }
  | { name: 'reset' }
  | { name: 'stop' }
  | { name: 'notes'; action: 'start' | 'stop' | 'summary' | 'status'; title?: string }
  | { name: 'assistant'; action: 'show' | 'list' | 'use'; choice?: string }
  | { name: 'usage' };

/**
 * Reads a command from the text after the bot's mention (or a whole DM). Only the first word
 * counts, so "help me with this" is a question, not a command: a command is the word alone
 * (`notes` takes an action and, for start, a title).
 *
 * @example parseCommand('notes start Weekly sync') // { name: 'notes', action: 'start', title: 'Weekly sync' }
 */
export function parseCommand(text: string): Command | undefined {
  const t = text.trim().replace(/^\/+/, '');
  const lower = t.toLowerCase();
  if (/^(help|\?)$/.test(lower)) return { name: 'help' };
  if (/^(reset|new|forget)$/.test(lower)) return { name: 'reset' };
  if (/^(stop|cancel)$/.test(lower)) return { name: 'stop' };
  if (lower === 'usage') return { name: 'usage' };
  const assistant = /^assistant(?:\s+(list|use)(?:\s+([a-z0-9_-]{1,41}))?)?$/i.exec(t);
  if (assistant) {
    const action = (assistant[1]?.toLowerCase() ?? 'show') as 'show' | 'list' | 'use';
    if (action === 'use' && !assistant[2]) return undefined;
    if (action !== 'use' && assistant[2]) return undefined;
    return { name: 'assistant', action, ...(assistant[2] ? { choice: assistant[2].toLowerCase() } : {}) };
  }
  const notes = /^notes(?:\s+(start|stop|end|summary|status))?(?:\s+([\s\S]*))?$/i.exec(t);
  if (notes) {
    const raw = (notes[1] ?? 'status').toLowerCase();
    const action = raw === 'end' ? 'stop' : (raw as 'start' | 'stop' | 'summary' | 'status');
    const title = notes[2]?.trim();
    if (action !== 'start' && title) return undefined; // "notes stop by later" is a sentence, not a command
    return { name: 'notes', action, title: title || undefined };
  }
  return undefined;
}

/** The help text, listing commands and the assistant's tools. */
export function helpText(opts: { assistantTools: string[]; localTools: string[]; commandPrefix: string; meetings: boolean; assistants?: boolean }): string {
  const p = opts.commandPrefix;
  const tools = [...opts.assistantTools.map(describeTool), ...opts.localTools.map((t) => `\`${t}\` (local function)`)];
  return [
    '**Threadline** answers with an Alibaba Cloud Model Studio assistant. Talk to me in a thread or a DM; I remember the conversation.',
    '',
    '**Commands**',
    `• \`${p}help\`: this message`,
    `• \`${p}reset\`: forget this conversation and start fresh`,
    `• \`${p}stop\`: stop the answer in progress`,
    `• \`${p}usage\`: the tokens you and this channel have used today`,
    ...(opts.assistants ? [`• \`${p}assistant\`, \`${p}assistant list\`, \`${p}assistant use <name>\`: which assistant this channel uses, and switching it (admins)`] : []),
    `• \`${p}notes start [title]\`, \`${p}notes summary\`, \`${p}notes status\`, \`${p}notes stop\`: take meeting notes in this channel and post minutes${opts.meetings ? '' : ' (not available yet)'}`,
    '',
    tools.length ? `**What I can do**: ${tools.join(', ')}` : '',
  ]
    .filter((l, i, a) => l !== '' || a[i - 1] !== '')
    .join('\n')
    .trim();
}

export function describeTool(type: string): string {
  switch (type) {
    case 'text_to_image':
    case 'wanx':
      return 'draw images';
    case 'code_interpreter':
      return 'run Python code';
    case 'quark_search':
    case 'search':
      return 'search the web';
    default:
      return `\`${type}\` (plug-in)`;
  }
}
