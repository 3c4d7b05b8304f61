import type { Logger } from '../../src/log.js';
import { nodeFetch } from '../../src/net/fetch.js';
import { INVITE_HINT } from './capabilities.js';
import { toMrkdwn } from './mrkdwn.js';

/**
 * Answers through a slash command's response_url, ephemerally (the bot is not in the channel):
 * mrkdwn `text`, since response_url takes no markdown_text; the person is told once how to invite the bot.
 */
export class ResponseUrl {
  private hinted = false;

  constructor(
    private readonly url: string | undefined,
    private readonly log: Logger,
  ) {}

  async send(text: string): Promise<void> {
    if (!this.url) return;
    const body = { response_type: 'ephemeral', replace_original: false, text: toMrkdwn(text).slice(0, 3_900) + (this.hinted ? '' : `\n\n_${INVITE_HINT}_`) };
    this.hinted = true;
    try {
      const res = await nodeFetch(this.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (!res.ok) this.log.warn({ status: res.status }, 'slack response_url refused the answer (used up or expired)');
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'slack response_url could not be reached');
    }
  }
}
