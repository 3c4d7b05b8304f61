/**
 * What a person has in view under Slack's agent messaging experience: `context` on
 * app_context_changed and app_home_opened, `app_context` folded into a DM message. Entity types as
 * documented and recorded by the Chat SDK; unknown ones are skipped. Not recorded by us: docs/slack.md §2.
 */
export interface AgentContext {
  entities?: Array<{ type: string; value: unknown; team_id?: string }>;
}

const ID = /^[CGD][A-Z0-9]{2,20}$/;

/** A sentence telling the model what the person is looking at, or undefined when nothing usable is in view. */
export function agentContextText(context: AgentContext | undefined, name: string): string | undefined {
  // from an event or read back from the store: either may be of a shape we do not know
  const entities: unknown[] = Array.isArray(context?.entities) ? context.entities : [];
  for (const e of entities as Array<{ type?: unknown; value?: unknown } | null>) {
    if (!e || typeof e !== 'object') continue;
    if (e.type === 'slack#/types/channel_id' && typeof e.value === 'string' && ID.test(e.value)) {
      return `${name} is writing while looking at the channel <#${e.value}>. When they say "this channel", they mean that one; write <#${e.value}> to name it.`;
    }
    if (e.type === 'slack#/types/message_context' && e.value && typeof e.value === 'object') {
      const v = e.value as { channel_id?: unknown; message_ts?: unknown };
      if (typeof v.channel_id === 'string' && ID.test(v.channel_id)) return `${name} is writing while looking at a message in the channel <#${v.channel_id}>.`;
    }
  }
  return undefined;
}

/** An AI app thread as remembered: the context the container last reported. */
export interface AiThread {
  context: { channel_id?: string; team_id?: string };
}
export interface AiThreadEvent {
  assistant_thread: { channel_id: string; thread_ts: string; context?: AiThread['context'] };
}

export const SUGGESTED_PROMPTS = [
  { title: 'Summarise a text', message: 'Summarise this for me: ' },
  { title: 'Draw something', message: 'Draw a watercolour of a lighthouse at dawn' },
  { title: 'What can you do?', message: 'help' },
];

export function agentContextKey(team: string, channel: string): string {
  return `slack-agent-context:${team}:${channel}`;
}

export function aiThreadKey(channel: string, threadTs: string): string {
  return `slack-ai-thread:${channel}:${threadTs}`;
}

/** The channel beside an AI app thread, for the model ("this channel" means that one); threads remembered before contexts were kept are `1`. */
export function viewing(ai: AiThread | 1 | undefined, name: string): string | undefined {
  const channel = typeof ai === 'object' ? ai.context.channel_id : undefined;
  if (!channel || !/^[CGD][A-Z0-9]{2,20}$/.test(channel)) return undefined;
  return `${name} is writing from Slack's assistant panel while looking at the channel <#${channel}>. When they say "this channel", they mean that one; write <#${channel}> to name it.`;
}
