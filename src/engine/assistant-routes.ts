import type { AssistantRoute } from '../assistants-file.js';

/** Where a conversation (or a meeting, `meeting:<channel key>`) is, as routes see it. */
export function placeOf(key: string): { platform: string; team?: string; guild?: string; channel?: string; dm: boolean } {
  const parts = key.replace(/^meeting:/, '').split(':');
  if (parts[0] === 'slack') return { platform: 'slack', team: parts[1], channel: parts[2], dm: (parts[2] ?? '').startsWith('D') };
  if (parts[0] === 'discord') return parts[1] === 'dm' ? { platform: 'discord', channel: parts[2], dm: true } : { platform: 'discord', guild: parts[1], channel: parts[2], dm: false };
  return { platform: parts[0] ?? '', dm: false };
}

/** The channel a conversation is in (`slack:T1:C1`, `discord:G:C`, `discord:dm:C`): a channel's choice of assistant is kept under it. */
export function channelKeyOf(key: string): string {
  const parts = key.replace(/^meeting:/, '').split(':');
  return parts.slice(0, 3).join(':');
}

/**
 * The assistant ASSISTANTS_FILE's routes give a conversation: the first rule that matches its
 * place (a Discord thread follows its parent channel, which its key carries), `default` otherwise.
 *
 * @example routeAssistant([{ slack: { channel: 'C1' }, assistant: 'support' }], 'slack:T1:C1:1.0') // 'support'
 */
export function routeAssistant(routes: AssistantRoute[], key: string): string {
  const p = placeOf(key);
  for (const r of routes) {
    const rule = p.platform === 'slack' ? r.slack : p.platform === 'discord' ? r.discord : undefined;
    if (!rule) continue;
    const where = rule as { team?: string; guild?: string; channel?: string; dm?: boolean };
    if (where.dm !== undefined && where.dm !== p.dm) continue;
    if (where.team !== undefined && where.team !== p.team) continue;
    if (where.guild !== undefined && where.guild !== p.guild) continue;
    if (where.channel !== undefined && where.channel !== p.channel) continue;
    return r.assistant;
  }
  return 'default';
}
