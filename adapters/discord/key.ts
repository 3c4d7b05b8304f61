import { keyPart, type ConversationKeyCodec } from '../../src/engine/conversation-key.js';

/**
 * Discord's conversation keys:
 * - `discord:<guild>:<channel>:<thread>`: a thread (channel = its parent; a thread-less channel reply uses the channel twice)
 * - `discord:dm:<channel>`: a DM
 *
 * A server channel's key (`discord:<guild>:<channel>`) names where a meeting runs.
 */
export type DiscordConversation = { guild: string; channel: string; thread: string } | { guild: 'dm'; channel: string; thread?: undefined };

/** @example discordKeys.encode({ guild: 'dm', channel: '9' }) // 'discord:dm:9' */
export const discordKeys: ConversationKeyCodec<DiscordConversation> = {
  platform: 'discord',
  encode(ref) {
    if (ref.guild === 'dm') return `discord:dm:${keyPart(ref.channel, 'channel')}`;
    return `discord:${keyPart(ref.guild, 'guild')}:${keyPart(ref.channel, 'channel')}:${keyPart(ref.thread, 'thread')}`;
  },
  decode(key) {
    const p = key.split(':');
    if (p[0] === 'discord' && p.length === 3 && p[1] === 'dm') return { guild: 'dm', channel: keyPart(p[2], 'channel') };
    if (p[0] === 'discord' && p.length === 4 && p[1] !== 'dm') return { guild: keyPart(p[1], 'guild'), channel: keyPart(p[2], 'channel'), thread: keyPart(p[3], 'thread') };
    throw new TypeError(`not a Discord conversation key: ${JSON.stringify(key)}`);
  },
  isDirect: (key) => key.replace(/^meeting:/, '').split(':')[1] === 'dm',
};

/** The key of a server channel (where meetings run) or of a DM. */
export function discordChannelKey(guildId: string | null, channelId: string): string {
  return guildId ? `discord:${keyPart(guildId, 'guild')}:${keyPart(channelId, 'channel')}` : `discord:dm:${keyPart(channelId, 'channel')}`;
}
