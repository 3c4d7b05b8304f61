import { keyPart, type ConversationKeyCodec } from '../../src/engine/conversation-key.js';

/**
 * Slack's conversation keys:
 * - `slack:<team>:<channel>:<thread_ts>`: a thread (in a channel, or inside a DM)
 * - `slack:<team>:<dm channel>`: a DM's top level (assistant_view and plain DMs)
 */
export type SlackConversation = { team: string; channel: string; threadTs?: string };

/** @example slackKeys.encode({ team: 'T1', channel: 'C1', threadTs: '1.2' }) // 'slack:T1:C1:1.2' */
export const slackKeys: ConversationKeyCodec<SlackConversation> = {
  platform: 'slack',
  encode(ref) {
    const base = `slack:${keyPart(ref.team, 'team')}:${keyPart(ref.channel, 'channel')}`;
    return ref.threadTs ? `${base}:${keyPart(ref.threadTs, 'thread_ts')}` : base;
  },
  decode(key) {
    const p = key.split(':');
    if (p[0] !== 'slack' || (p.length !== 3 && p.length !== 4)) throw new TypeError(`not a Slack conversation key: ${JSON.stringify(key)}`);
    const ref = { team: keyPart(p[1], 'team'), channel: keyPart(p[2], 'channel') };
    return p.length === 3 ? ref : { ...ref, threadTs: keyPart(p[3], 'thread_ts') };
  },
  // Slack's DM channel ids start with D
  isDirect: (key) => (key.replace(/^meeting:/, '').split(':')[2] ?? '').startsWith('D'),
};
