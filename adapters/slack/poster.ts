import type { WebClient } from '@slack/web-api';
import { MAX_MESSAGES_PER_REPLY, OVERFLOW_FILENAME, capMessages, splitMessage } from '../../src/engine/format/split.js';
import type { MinutesReply } from '../../src/engine/types.js';
import type { Logger } from '../../src/log.js';
import { NOT_IN_CHANNEL, STREAM_GONE, slackError } from './capabilities.js';
import type { SlackTarget } from './inbound.js';
import { STREAM_MESSAGE_LIMIT } from './message-size.js';
import { neutralizeMentions, toMrkdwn } from './mrkdwn.js';
import { ResponseUrl } from './response-url.js';

/** A Web API call that reports failure instead of throwing. */
export type SlackCall = (method: string, args: Record<string, unknown>, opts?: { quiet?: Set<string> }) => Promise<{ ok: boolean; ts?: unknown; error?: string }>;

/** Errors a reply meets in its normal course (a reaction already there, a stream the person stopped): not logged. */
const EXPECTED = new Set(['already_reacted', 'no_reaction', 'unknown_method', ...STREAM_GONE]);

/** Web API calls for one channel that log what went wrong (unless expected or `quiet`) and answer `{ ok: false, error }`. */
export function slackCaller(client: WebClient, log: Logger, channel: string): SlackCall {
  return async (method, args, opts = {}) => {
    try {
      return await client.apiCall(method, args);
    } catch (err) {
      const error = slackError(err);
      if (!EXPECTED.has(error.code ?? '') && !opts.quiet?.has(error.code ?? '')) log.warn({ method, err: error, channel }, 'slack call failed');
      return { ok: false, error: error.code };
    }
  };
}

/**
 * What a reply posts outside its stream: messages in the thread (or, where the bot is not in the
 * channel, through the command's response_url), notices and minutes split to Slack's limits with
 * the rest attached, whispers, and files. It never throws: failures are logged.
 */
export class SlackPoster {
  /** The slash command's response_url, when there is one (ephemeral answers where the bot cannot post). */
  readonly answerer: ResponseUrl;

  constructor(
    private readonly client: WebClient,
    private readonly target: SlackTarget,
    private readonly log: Logger,
    private readonly call: SlackCall,
    private readonly onReply?: (type: string) => void,
  ) {
    this.answerer = new ResponseUrl(target.responseUrl, log);
  }

  /** One message in the thread (or the DM's top level). */
  async post(text: string): Promise<void> {
    if (this.target.viaResponseUrl) return this.answerer.send(text);
    const thread = this.target.threadTs ? { thread_ts: this.target.threadTs } : {};
    const res = await this.call('chat.postMessage', { channel: this.target.channel, ...thread, markdown_text: text, unfurl_links: false }, { quiet: NOT_IN_CHANNEL });
    if (!res.ok && res.error && NOT_IN_CHANNEL.has(res.error)) {
      if (this.target.responseUrl) await this.answerer.send(text);
      else this.log.warn({ channel: this.target.channel, error: res.error }, 'slack: cannot post in this channel (the bot is not a member); reply dropped');
    }
  }

  /** A file in the thread, with its alt text. */
  async upload(bytes: Uint8Array, filename: string, alt: string, title: string): Promise<void> {
    try {
      await this.client.filesUploadV2({
        channel_id: this.target.channel,
        ...(this.target.threadTs ? { thread_ts: this.target.threadTs } : {}),
        file: Buffer.from(bytes),
        filename,
        title,
        alt_text: alt.slice(0, 1000),
      } as Parameters<WebClient['filesUploadV2']>[0]);
      this.onReply?.('file');
    } catch (err) {
      this.log.warn({ err: slackError(err), channel: this.target.channel }, 'slack file upload failed');
    }
  }

  async notice(text: string): Promise<void> {
    if (this.target.viaResponseUrl) return this.answerer.send(text);
    const { shown, overflow } = capMessages(splitMessage(neutralizeMentions(text), STREAM_MESSAGE_LIMIT), MAX_MESSAGES_PER_REPLY);
    for (const chunk of shown) await this.post(chunk);
    if (overflow) await this.upload(new TextEncoder().encode(text), OVERFLOW_FILENAME, 'The whole text', 'The whole text');
  }

  /** Only the person who wrote sees it (chat.postEphemeral in the thread); where Slack will not, everyone does. */
  async whisper(text: string): Promise<void> {
    // a slash command's response_url answers are ephemeral already
    if (this.target.viaResponseUrl) return this.answerer.send(text);
    if (!this.target.user) return this.notice(text);
    const res = await this.call(
      'chat.postEphemeral',
      { channel: this.target.channel, user: this.target.user, text: toMrkdwn(neutralizeMentions(text)), ...(this.target.threadTs ? { thread_ts: this.target.threadTs } : {}) },
      { quiet: NOT_IN_CHANNEL },
    );
    if (!res.ok) await this.notice(text);
  }

  async minutes(m: MinutesReply): Promise<void> {
    for (const chunk of capMessages(splitMessage(neutralizeMentions(m.text), STREAM_MESSAGE_LIMIT), MAX_MESSAGES_PER_REPLY).shown) await this.post(chunk);
    await this.upload(m.file.bytes, m.file.filename, m.title, m.title);
  }
}
