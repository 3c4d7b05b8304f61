import { MAX_MESSAGES_PER_REPLY, capMessages, splitMessage } from '../../src/engine/format/split.js';
import { neutralizeMentions } from './mrkdwn.js';
import { STREAM_MESSAGE_LIMIT } from './message-size.js';
import type { SlackCall } from './poster.js';
import { FINAL_HEADROOM, type SlackSinkOptions } from './sink-options.js';

/**
 * A reply shown by posting and editing messages (where Slack does not stream, after the person's
 * Stop, or to replace what streamed): each call shows the whole text in as many messages as it
 * needs, editing the ones already posted and posting the rest.
 */
export class SlackUpdates {
  /** The messages posted so far, with what each shows. */
  private posted: Array<{ ts: string; text: string; adopted?: boolean }> = [];
  /** Where the messages begin in the text: past what a stream Slack stopped had shown. */
  private base = 0;

  constructor(
    private readonly call: SlackCall,
    private readonly thread: { channel: string; thread_ts?: string },
    private readonly opts: Pick<SlackSinkOptions, 'reserve' | 'onReply'>,
    /** Told when a message was posted or deleted (the reply's place changed). */
    private readonly moved?: () => Promise<void>,
  ) {}

  /** The messages posted so far (not those adopted from a stream). */
  postedTs(): string[] {
    return this.posted.filter((p) => !p.adopted).map((p) => p.ts);
  }

  /** From now on the messages show the text past `base` (what a stream Slack stopped had shown), in new messages. */
  startAfter(base: number): void {
    this.base = base;
    this.posted = [];
  }

  /** Takes over messages already out (streamed ones, or posted by an earlier process): the next `show` replaces their text. */
  adopt(streams: string[], posted: string[] = []): void {
    this.posted = [...streams.map((ts) => ({ ts, text: '', adopted: true })), ...posted.map((ts) => ({ ts, text: '' }))];
  }

  /** Shows `whole`; answers whether it had to leave some out (MAX_MESSAGES_PER_REPLY messages at most). */
  async show(whole: string, final = false): Promise<{ overflow: boolean }> {
    const markdown = this.base ? whole.slice(this.base).replace(/^\s+/, '') : whole;
    if (!markdown.trim()) return { overflow: false };
    // Slack renders markdown_text itself (12,000 characters a message): no hand-made mrkdwn
    const { shown: chunks, overflow } = capMessages(splitMessage(neutralizeMentions(markdown), STREAM_MESSAGE_LIMIT), MAX_MESSAGES_PER_REPLY);
    for (let i = 0; i < chunks.length; i++) {
      const have = this.posted[i];
      if (have && have.text === chunks[i]) continue;
      if (have) {
        // an intermediate edit is skipped while chat.update (Tier 3) is busy; the final one always goes
        if (!final && this.opts.reserve && !this.opts.reserve('chat.update', 0, FINAL_HEADROOM)) return { overflow };
        if ((await this.call('chat.update', { channel: this.thread.channel, ts: have.ts, markdown_text: chunks[i] })).ok) have.text = chunks[i];
      } else {
        const res = await this.call('chat.postMessage', { ...this.thread, markdown_text: chunks[i], unfurl_links: false, unfurl_media: false });
        this.opts.onReply?.('text');
        if (!res.ok || typeof res.ts !== 'string') continue;
        this.posted.push({ ts: res.ts, text: chunks[i] });
        // one more message: a restart from here edits it instead of posting it again
        await this.moved?.();
      }
    }
    if (final) {
      const extras = this.posted.splice(chunks.length);
      for (const extra of extras) await this.call('chat.delete', { channel: this.thread.channel, ts: extra.ts });
      if (extras.length) await this.moved?.();
    }
    return { overflow };
  }
}
