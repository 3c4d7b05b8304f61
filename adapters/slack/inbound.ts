import { slackKeys } from './key.js';
import type { InboundKind, ReplyTarget, SharedFileRef } from '../../src/engine/types.js';

/** The fields of a file on a Slack message that Threadline reads (recorded: streaming-slack.json, aiMentionWithFile). */
export interface SlackFile {
  id?: string;
  name?: string;
  title?: string;
  mimetype?: string;
  size?: number;
  /** `hosted`, `snippet`, `post`, `external` (a link to another service), `tombstone` (deleted). */
  mode?: string;
  /** `visible`, or `check_file_info` for a file shared from another organisation (Slack Connect): not in the event. */
  file_access?: string;
  url_private?: string;
  url_private_download?: string;
}

/** The fields of a Slack `message` / `app_mention` event Threadline reads. */
export interface SlackMessageEvent {
  type: string;
  subtype?: string;
  user?: string;
  bot_id?: string;
  text?: string;
  ts: string;
  thread_ts?: string;
  channel: string;
  channel_type?: string;
  team?: string;
  files?: SlackFile[];
  /** Agent messaging experience: what the person had in view, folded into the message (shape as Slack sent it to the Chat SDK's recordings). */
  app_context?: { entities?: Array<{ type: string; value: unknown; team_id?: string }> };
}

export interface SlackRoute {
  kind: InboundKind;
  key: string;
  target: SlackTarget;
  text: string;
  eventId: string;
  group: boolean;
  channelKey: string;
  files?: SharedFileRef[];
}

/** The files of a message as the engine takes them; ones Slack will not hand over are marked so (docs/slack.md §1). */
export function slackFiles(files: SlackFile[] | undefined, team?: string): SharedFileRef[] | undefined {
  if (!Array.isArray(files) || files.length === 0) return undefined;
  return files.slice(0, 10).map((f) => {
    const name = (f.name || f.title || f.id || 'file').slice(0, 200);
    const url = f.url_private_download ?? f.url_private ?? '';
    const unavailable =
      f.mode === 'tombstone'
        ? 'it was deleted'
        : f.mode === 'external'
          ? 'it is a link to another service, not a file on Slack'
          : f.file_access === 'check_file_info'
            ? 'it was shared from another organisation, and Slack does not hand it over here'
            : !url
              ? 'Slack gave no address to download it from'
              : undefined;
    return { name, contentType: (f.mimetype ?? '').toLowerCase(), size: Number(f.size) || 0, url, ...(team ? { space: team } : {}), ...(unavailable ? { unavailable } : {}) };
  });
}

export interface SlackTarget extends ReplyTarget {
  platform: 'slack';
  team: string;
  channel: string;
  /** Reply in this thread; absent for a DM's top level. */
  threadTs?: string;
  /** The person's message (for a reaction as progress). */
  messageTs?: string;
  /** Who asked (streaming to a channel names its recipient). */
  user?: string;
  /** An AI app thread: progress goes through assistant.threads.setStatus. */
  assistantThread?: boolean;
  /** Title for the agent session, from the person's first message. */
  title?: string;
  /** A slash command's response_url: where to answer when the bot cannot post in the channel (not_in_channel). */
  responseUrl?: string;
  /** Everything of this reply goes to `responseUrl`, ephemerally (the bot is not in the channel). */
  viaResponseUrl?: boolean;
}

/** Streaming outside a DM names who the stream is for (chat.startStream's recipient). */
export function streamRecipient(target: SlackTarget): Record<string, string | undefined> {
  return target.channel.startsWith('D') ? {} : { recipient_team_id: target.team, recipient_user_id: target.user };
}

/** Subtypes that are still a person writing. Everything else (edits, deletions, joins, bot_message…) is ignored. */
const HUMAN_SUBTYPES = new Set(['file_share', 'thread_broadcast']);

export type Ignored = { ignore: 'subtype' | 'self' | 'bot' | 'no-user' };

/**
 * Decides what a Slack message means: a mention (answered in its thread), a DM (one
 * conversation per DM channel; a reply inside a DM thread is its own conversation), a follow-up
 * in a thread the bot is part of, an ambient channel message (meeting capture only), or
 * something to ignore (the bot itself, other bots unless allowed, edits, deletions, joins).
 * `message` and `app_mention` for the same message get the same eventId, so one reply results.
 */
export async function routeSlackMessage(
  e: SlackMessageEvent,
  ctx: {
    team: string;
    botUserId: string;
    botId?: string;
    allowBots: boolean;
    /** The app uses the agent messaging experience: a top-level DM message is a thread root, answered in its thread. */
    agentView?: boolean;
    inConversation: (key: string) => Promise<boolean>;
  },
): Promise<SlackRoute | Ignored> {
  if (e.subtype && !HUMAN_SUBTYPES.has(e.subtype)) return { ignore: 'subtype' };
  if (e.user === ctx.botUserId || (e.bot_id && e.bot_id === ctx.botId)) return { ignore: 'self' };
  if (e.bot_id && !ctx.allowBots) return { ignore: 'bot' };
  if (!e.user) return { ignore: 'no-user' };
  const team = ctx.team;
  const mentionTag = `<@${ctx.botUserId}>`;
  const raw = e.text ?? '';
  const text = cleanText(raw, ctx.botUserId);
  const eventId = `slack:${team}:${e.channel}:${e.ts}`;
  const channelKey = slackKeys.encode({ team, channel: e.channel });
  const files = slackFiles(e.files, team);
  const isDm = e.channel_type === 'im' || (!e.channel_type && e.channel.startsWith('D'));
  if (isDm) {
    // agent_view: each top-level message starts a thread, one conversation per thread; assistant_view
    // and plain DMs: the DM's top level is one conversation, a thread inside it another
    const threadTs = e.thread_ts ?? (ctx.agentView ? e.ts : undefined);
    const key = slackKeys.encode({ team, channel: e.channel, threadTs });
    return { kind: 'dm', key, target: { platform: 'slack', team, channel: e.channel, threadTs, messageTs: e.ts, user: e.user }, text, eventId, group: false, channelKey, files };
  }
  const mentioned = e.type === 'app_mention' || raw.includes(mentionTag);
  const threadTs = e.thread_ts ?? e.ts;
  const key = slackKeys.encode({ team, channel: e.channel, threadTs });
  const target: SlackTarget = { platform: 'slack', team, channel: e.channel, threadTs, messageTs: e.ts, user: e.user };
  if (mentioned) return { kind: 'mention', key, target, text, eventId, group: true, channelKey, files };
  // files shared in a thread Threadline follows are part of that conversation, mention or not
  if (e.thread_ts && (await ctx.inConversation(key))) return { kind: 'thread', key, target, text, eventId, group: true, channelKey, files };
  return { kind: 'ambient', key, target, text, eventId, group: true, channelKey, files };
}

/** Removes the bot's mention and turns Slack markup into plain text the model reads well. */
export function cleanText(text: string, botUserId: string): string {
  return text
    .replaceAll(`<@${botUserId}>`, '')
    .replace(/<(https?:\/\/[^|>]+)\|([^>]+)>/g, '$2 ($1)')
    .replace(/<(https?:\/\/[^>]+)>/g, '$1')
    .replace(/<mailto:[^|>]+\|([^>]+)>/g, '$1')
    .replace(/<#[A-Z0-9]+\|([^>]*)>/g, '#$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/[ \t]+/g, ' ')
    .trim();
}
