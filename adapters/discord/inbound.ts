import { discordKeys } from './key.js';
import type { InboundKind, ReplyTarget } from '../../src/engine/types.js';

export interface DiscordTarget extends ReplyTarget {
  platform: 'discord';
  /** The channel, thread or DM channel to post in. */
  channel: string;
  /** Reply to this message (the person's), when there is one. */
  replyTo?: string;
  /** A slash command's interaction (in memory only; after a restart the reply goes to the channel). */
  interaction?: string;
}

/** Removes the bot's mention and turns other mentions into readable names. */
export function cleanDiscordText(content: string, botId: string, names: Map<string, string>): string {
  return content
    .replace(new RegExp(`<@!?${botId}>`, 'g'), '')
    .replace(/<@!?(\d+)>/g, (_m, id: string) => `@${names.get(id) ?? id}`)
    .replace(/<#(\d+)>/g, '#$1')
    .replace(/[ \t]+/g, ' ')
    .trim();
}

/** A thread name from the message text: first line, trimmed, at most 100 characters (Discord's limit). */
export function threadName(text: string): string {
  const first =
    text
      .split('\n')
      .find((l) => l.trim())
      ?.trim() ?? '';
  const name = first.replace(/\s+/g, ' ').slice(0, 90);
  return name.length < first.length ? `${name.trimEnd()}…` : name || 'Conversation';
}

export interface DiscordRouteInput {
  botId: string;
  isDm: boolean;
  guildId?: string;
  channelId: string;
  /** Set when the message was posted inside a thread. */
  parentId?: string;
  mentioned: boolean;
}

/**
 * What a Discord message means before any thread is created: a DM, a mention in a channel (a
 * thread will be opened on it), a mention or follow-up inside a thread, or ambient.
 */
export function classifyDiscordMessage(m: DiscordRouteInput): { kind: InboundKind | 'open-thread'; key?: string } {
  if (m.isDm) return { kind: 'dm', key: discordKeys.encode({ guild: 'dm', channel: m.channelId }) };
  if (m.parentId) {
    const key = discordKeys.encode({ guild: m.guildId ?? '', channel: m.parentId, thread: m.channelId });
    return { kind: m.mentioned ? 'mention' : 'thread', key };
  }
  return { kind: m.mentioned ? 'open-thread' : 'ambient' };
}
