import type { AssistantRoute } from '../assistants-file.js';
import { placeOf } from './conversation-key.js';

/**
 * The assistant ASSISTANTS_FILE's routes give a conversation: the first rule that matches its
 * place (a Discord thread follows its parent channel, which its key carries), `default` otherwise.
 * A rule is keyed by platform; its `team` / `guild` / `space` is the key's space, and `dm` asks the
 * platform's codec whether the conversation is a DM.
 *
 * @example routeAssistant([{ slack: { channel: 'C1' }, assistant: 'support' }], 'slack:T1:C1:1.0', () => false) // 'support'
 */
export function routeAssistant(routes: AssistantRoute[], key: string, isDirect: (key: string) => boolean): string {
  const p = placeOf(key);
  let direct: boolean | undefined;
  for (const r of routes) {
    const rule = (r as unknown as Record<string, unknown>)[p.platform] as { team?: string; guild?: string; space?: string; channel?: string; dm?: boolean } | undefined;
    if (!rule || typeof rule !== 'object') continue;
    if (rule.dm !== undefined && rule.dm !== (direct ??= isDirect(key))) continue;
    const space = rule.team ?? rule.guild ?? rule.space;
    if (space !== undefined && space !== p.space) continue;
    if (rule.channel !== undefined && rule.channel !== p.channel) continue;
    return r.assistant;
  }
  return 'default';
}
