import { AttachmentBuilder, DiscordAPIError, type ChatInputCommandInteraction, type Client, type SendableChannels } from 'discord.js';
import { MAX_MESSAGES_PER_REPLY, OVERFLOW_FILENAME, capMessages, splitMessage } from '../../src/engine/format/split.js';
import { EditThrottle } from '../../src/engine/format/throttle.js';
import { codeStepMarkdown } from '../../src/engine/format/code-step.js';
import type { CodeStep, FinalReply, MinutesReply, ReplyPlace, ReplySink, TurnStatus } from '../../src/engine/types.js';
import type { Logger } from '../../src/log.js';
import type { DiscordTarget } from './inbound.js';
import { partNonce, type DiscordPlace } from './place.js';

export const DISCORD_LIMIT = 2_000;
/** Discord shows typing for about 10 s per call. */
const TYPING_EVERY_MS = 8_000;
/** Errors after which this channel cannot be posted to: missing permissions, unknown channel, archived or locked thread (docs/discord.md §2). */
const GONE = new Set([50013, 50001, 10003, 50083, 160005, 10008]);

/** A message of the reply: what it holds (text, and how many files), as far as this process knows. */
type Posted = { id: string; text: string; files?: number };

/**
 * Posts one turn's reply on Discord: the typing indicator while the run works (renewed every
 * 8 s), the text streamed by editing the reply at most about once a second, the final text split
 * at 2,000 characters without breaking code fences, images as attachments, code steps as code
 * blocks (long output as a file), failures as a short reply. A slash command's reply edits its
 * deferred response. Missing permissions, a deleted channel or an archived thread are logged and
 * end the sink quietly; it never throws into the engine.
 */
export class DiscordSink implements ReplySink {
  private posted: Posted[] = [];
  private typing?: NodeJS.Timeout;
  private dead = false;
  private readonly edits: EditThrottle;
  /** The engine's ear for where the reply is (`watchPlace`). */
  private watcher?: (place: ReplyPlace | undefined) => Promise<void>;

  constructor(
    private readonly client: Client,
    private readonly target: DiscordTarget,
    private readonly log: Logger,
    private readonly opts: {
      interaction?: ChatInputCommandInteraction;
      editIntervalMs?: number;
      typingEveryMs?: number;
      onReply?: (type: string) => void;
      /** Whether a waiting message may show typing in this channel now (one per channel per few seconds: a flood must not queue REST calls). */
      mayShowWaiting?: (channel: string) => boolean;
      /** The reply an earlier process was posting when it stopped: this sink completes it in those messages. */
      continues?: DiscordPlace;
    } = {},
  ) {
    this.edits = new EditThrottle(opts.editIntervalMs ?? 1_000, (text) => this.show(text));
    // what the messages hold is not known here: the final text is put in each of them
    if (opts.continues) this.posted = opts.continues.messages.map((id) => ({ id, text: '' }));
  }

  /**
   * Where the reply is, for the engine to keep: the messages posted so far. Only where each part
   * is created with an enforced nonce (not a slash command's reply): a create that may have landed
   * is then found again, never doubled. It lets what is being shown land first.
   */
  async place(): Promise<ReplyPlace | undefined> {
    await this.edits.settle();
    return this.current();
  }

  watchPlace(changed: (place: ReplyPlace | undefined) => Promise<void>): void {
    this.watcher = changed;
  }

  private current(): DiscordPlace | undefined {
    if (this.opts.interaction || !partNonce(this.target.replyTo, 0)) return undefined;
    return { messages: this.posted.map((p) => p.id) };
  }

  private async channel(): Promise<SendableChannels | undefined> {
    // a channel no session here has seen (its shard runs on another instance): fetched over REST, its server unknown here
    const ch = this.client.channels.cache.get(this.target.channel) ?? (await this.client.channels.fetch(this.target.channel, { allowUnknownGuild: true }));
    return ch && ch.isSendable() ? ch : undefined;
  }

  /** One typing indicator (Discord shows it about 10 s). */
  private typeOnce(): Promise<void> {
    return this.guard('typing', async () => {
      await (await this.channel())?.sendTyping();
    });
  }

  /** A message waiting behind a backlog: one typing indicator, when the adapter's gate lets it through for this channel. */
  async waiting(): Promise<void> {
    if (this.opts.interaction || !this.opts.mayShowWaiting?.(this.target.channel)) return;
    await this.typeOnce();
  }

  async status(_s: TurnStatus): Promise<void> {
    if (this.typing || this.dead || this.opts.interaction) return; // a deferred interaction already shows "thinking"
    await this.typeOnce();
    this.typing = setInterval(() => void this.typeOnce(), this.opts.typingEveryMs ?? TYPING_EVERY_MS);
    this.typing.unref();
  }

  async text(soFar: string): Promise<void> {
    // a reply completed in place is settled at `finish` in the messages it is in, not streamed again
    if (!this.dead && !this.opts.continues) this.edits.push(soFar);
  }

  private settle(): Promise<void> {
    return this.edits.settle();
  }

  /** Shows the text in as many messages as it needs, editing those already posted. */
  private async show(text: string, final = false, files: AttachmentBuilder[] = []): Promise<void> {
    // One reply is at most MAX_MESSAGES_PER_REPLY messages; the whole text goes as a file beyond that.
    const { shown: chunks, overflow } = capMessages(text ? splitMessage(text, DISCORD_LIMIT) : [], MAX_MESSAGES_PER_REPLY);
    if (final && overflow) files = [...files, new AttachmentBuilder(Buffer.from(text), { name: OVERFLOW_FILENAME })];
    for (let i = 0; i < chunks.length; i++) {
      const attach = final && i === chunks.length - 1 ? files : [];
      const have = this.posted[i];
      if (have && have.text === chunks[i] && attach.length === 0) continue;
      if (have)
        await this.guard('edit', async () => {
          await this.edit(have, chunks[i], attach);
          have.text = chunks[i];
        });
      else
        await this.guard('send', async () => {
          const sent = await this.send(chunks[i], attach, i === 0, partNonce(this.target.replyTo, i));
          this.posted.push(sent);
          // one more message: a restart from here edits it instead of posting it again
          await this.watcher?.(this.current());
          // the nonce found the message an earlier process created: it holds what that one sent
          if (sent.text.trim() !== chunks[i].trim() || sent.files !== attach.length) await this.edit(sent, chunks[i], attach);
          sent.text = chunks[i];
        });
    }
    if (final) {
      const extras = this.posted.splice(chunks.length);
      for (const extra of extras) await this.guard('delete', async () => (await this.channel())?.messages.delete(extra.id));
      if (extras.length) await this.watcher?.(this.current());
      if (chunks.length === 0 && files.length) await this.guard('send', async () => void (await this.send('', files, true)));
    }
  }

  /** Posts one message; `nonce`: Discord returns the message already created with it (in the last few minutes) instead of a new one. */
  private async send(content: string, files: AttachmentBuilder[], first: boolean, nonce?: string): Promise<Posted> {
    const i = this.opts.interaction;
    if (i && first && this.posted.length === 0) {
      const m = await i.editReply({ content, files });
      return { id: m.id, text: content, files: files.length };
    }
    if (i) {
      const m = await i.followUp({ content, files });
      return { id: m.id, text: content, files: files.length };
    }
    const ch = await this.channel();
    if (!ch) throw new Error('channel is not sendable');
    const m = await ch.send({
      content,
      files,
      ...(first && this.target.replyTo ? { reply: { messageReference: this.target.replyTo, failIfNotExists: false } } : {}),
      allowedMentions: { parse: [], repliedUser: false },
      ...(nonce ? { nonce, enforceNonce: true } : {}),
    });
    this.opts.onReply?.('text');
    // what the message holds: an earlier create's when the nonce found it
    return { id: m.id, text: m.content, files: m.attachments.size };
  }

  private async edit(p: Posted, content: string, files: AttachmentBuilder[]): Promise<void> {
    if (this.opts.interaction && p === this.posted[0]) await this.opts.interaction.editReply({ content, files });
    // by id through the channel: a message an earlier process posted is known by its id only, and a
    // message sent through the REST-only client (its shard runs elsewhere) has no cached channel to edit through
    else await (await this.channel())?.messages.edit(p.id, { content, files, allowedMentions: { parse: [] } });
  }

  async finish(reply: FinalReply): Promise<void> {
    await this.settle();
    const files = reply.images.map((img) => new AttachmentBuilder(Buffer.from(img.bytes), { name: img.filename, description: img.alt.slice(0, 1024) }));
    await this.show(reply.text || (files.length ? '' : '_(no answer)_'), true, files);
    this.opts.onReply?.('final');
    this.stopTyping();
  }

  async code(step: CodeStep): Promise<void> {
    const { text, attachOutput } = codeStepMarkdown(step);
    await this.postExtra(text, attachOutput ? [new AttachmentBuilder(Buffer.from(step.output), { name: 'output.txt' })] : []);
  }

  async notice(text: string): Promise<void> {
    await this.postExtra(text);
  }

  async fail(text: string): Promise<void> {
    await this.settle();
    await this.postExtra(`⚠️ ${text}`);
    this.opts.onReply?.('error');
    this.stopTyping();
  }

  async minutes(m: MinutesReply): Promise<void> {
    await this.postExtra(m.text, [new AttachmentBuilder(Buffer.from(m.file.bytes), { name: m.file.filename, description: m.title })]);
  }

  /** Messages outside the streamed reply (notices, code, failures, minutes). */
  private async postExtra(text: string, files: AttachmentBuilder[] = []): Promise<void> {
    const { shown: chunks, overflow } = capMessages(splitMessage(text, DISCORD_LIMIT), MAX_MESSAGES_PER_REPLY);
    if (overflow) files = [...files, new AttachmentBuilder(Buffer.from(text), { name: OVERFLOW_FILENAME })];
    for (let i = 0; i < chunks.length; i++) {
      await this.guard('send', async () => {
        const posted = await this.send(chunks[i], i === chunks.length - 1 ? files : [], this.posted.length === 0 && i === 0);
        if (this.opts.interaction && this.posted.length === 0) this.posted.push(posted);
      });
    }
  }

  private stopTyping(): void {
    clearInterval(this.typing);
    this.typing = undefined;
  }

  /** Runs a Discord call; permission and gone-channel errors end the sink quietly, others are logged. */
  private async guard(what: string, fn: () => Promise<unknown>): Promise<void> {
    if (this.dead) return;
    try {
      await fn();
    } catch (err) {
      const code = err instanceof DiscordAPIError ? Number(err.code) : undefined;
      if (code !== undefined && GONE.has(code)) {
        this.dead = true;
        this.stopTyping();
        this.log.warn({ channel: this.target.channel, code, what }, 'discord channel cannot be posted to (permissions, deleted or archived); reply dropped');
        return;
      }
      this.log.warn({ channel: this.target.channel, what, err: { message: (err as Error).message, code } }, 'discord call failed');
    }
  }
}
