/**
 * Conversation keys name one chat conversation, and through it one conversation of the model backend:
 *
 * - `slack:<team>:<channel>:<thread_ts>`: a Slack thread (channel, or a thread inside a DM)
 * - `slack:<team>:<dm channel>`: a Slack DM's top level
 * - `discord:<guild>:<channel>:<thread>`: a Discord thread (channel = its parent)
 * - `discord:dm:<channel>`: a Discord DM
 *
 * Parts never contain `:` (Slack ids, timestamps and Discord snowflakes don't), and the codec
 * refuses any that do, so decode(encode(x)) is always x.
 */
export type ConversationRef =
  | { platform: 'slack'; team: string; channel: string; threadTs: string }
  | { platform: 'slack'; team: string; channel: string; threadTs?: undefined }
  | { platform: 'discord'; guild: string; channel: string; thread: string }
  | { platform: 'discord'; guild: 'dm'; channel: string; thread?: undefined };

const PART = /^[A-Za-z0-9._-]+$/;

function part(value: string, name: string): string {
  if (!PART.test(value)) throw new TypeError(`invalid ${name} in conversation key: ${JSON.stringify(value)}`);
  return value;
}

/** @example encodeConversationKey({ platform: 'slack', team: 'T1', channel: 'C1', threadTs: '1.2' }) // 'slack:T1:C1:1.2' */
export function encodeConversationKey(ref: ConversationRef): string {
  if (ref.platform === 'slack') {
    const base = `slack:${part(ref.team, 'team')}:${part(ref.channel, 'channel')}`;
    return ref.threadTs ? `${base}:${part(ref.threadTs, 'thread_ts')}` : base;
  }
  if (ref.guild === 'dm') return `discord:dm:${part(ref.channel, 'channel')}`;
  return `discord:${part(ref.guild, 'guild')}:${part(ref.channel, 'channel')}:${part(ref.thread ?? '', 'thread')}`;
}

/** Inverse of encodeConversationKey; throws TypeError on anything that is not a key. */
export function decodeConversationKey(key: string): ConversationRef {
  const p = key.split(':');
  if (p[0] === 'slack' && (p.length === 3 || p.length === 4)) {
    const [, team, channel, threadTs] = p;
    const ref = { platform: 'slack' as const, team: part(team, 'team'), channel: part(channel, 'channel') };
    return threadTs === undefined ? ref : { ...ref, threadTs: part(threadTs, 'thread_ts') };
  }
  if (p[0] === 'discord' && p.length === 3 && p[1] === 'dm') return { platform: 'discord', guild: 'dm', channel: part(p[2], 'channel') };
  if (p[0] === 'discord' && p.length === 4 && p[1] !== 'dm') {
    return { platform: 'discord', guild: part(p[1], 'guild'), channel: part(p[2], 'channel'), thread: part(p[3], 'thread') };
  }
  throw new TypeError(`not a conversation key: ${JSON.stringify(key)}`);
}
