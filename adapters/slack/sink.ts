import type { WebClient } from '@slack/web-api';
import { MAX_MESSAGES_PER_REPLY, OVERFLOW_FILENAME, fenceAcross } from '../../src/engine/format/split.js';
import { EditThrottle } from '../../src/engine/format/throttle.js';
import { codeStepMarkdown } from '../../src/engine/format/code-step.js';
import type { CodeStep, FinalReply, MinutesReply, ReplyPlace, ReplySink, TurnStatus } from '../../src/engine/types.js';
import type { Logger } from '../../src/log.js';
import { neutralizeMentions, sendableLength } from './mrkdwn.js';
import { feedbackBlock, toolTitle } from './blocks.js';
import { STREAM_GONE, newCapabilities, type SlackCapabilities } from './capabilities.js';
import { SlackProgress } from './progress.js';
import { SlackPoster, slackCaller, type SlackCall } from './poster.js';
import { SlackUpdates } from './updates.js';
import { LONG_OUTPUT, STREAM_MAX_AGE_MS, messageEnd } from './message-size.js';
import { streamRecipient, type SlackTarget } from './inbound.js';
import { FINAL_HEADROOM, STREAM_START_MAX_WAIT_MS, WAITING_HEADROOM, type SlackSinkOptions } from './sink-options.js';
import { digestOf, type SlackPlace } from './place.js';

export type { SlackSinkOptions } from './sink-options.js';

/**
 * Posts one turn's reply into a Slack thread (or a DM's top level): progress as a reaction (or
 * assistant.threads.setStatus in AI app threads); text streamed with chat.startStream /
 * appendStream / stopStream, or, where the workspace lacks them, posted and edited at most once
 * a second; the final text in mrkdwn, split cleanly; images as files with alt text; code steps as
 * code blocks (long output as a file); failures as a short message. It never throws into the
 * engine: Slack errors are logged.
 */
export class SlackSink implements ReplySink {
  private mode: 'unknown' | 'stream' | 'update';
  /** The message being streamed: it holds text[base, base + sent); `full` once it reached the length limit. */
  private stream?: { ts: string; sent: number; base: number; full: boolean; startedAt: number };
  private streamTs: string[] = [];
  /** The whole text so far (what streamed), and the throttle that shows it. */
  private latest = '';
  /** The messages posted and edited (not streamed). */
  private readonly updates: SlackUpdates;
  private readonly edits: EditThrottle;
  private readonly progress: SlackProgress;
  private readonly poster: SlackPoster;
  /** A Web API call that reports failure instead of throwing. */
  private readonly rawCall: SlackCall;
  private readonly caps: SlackCapabilities;
  /** The stream reached MAX_MESSAGES_PER_REPLY messages: the rest of the reply goes as a file. */
  private capped = false;
  /** The reply's files uploaded so far (a reply completed in place skips those). */
  private uploads = 0;
  /** The reply an earlier process was posting: this sink completes it in place (see `completeInPlace`). */
  private readonly continued?: SlackPlace;
  /** The engine's ear for where the reply is (`watchPlace`). */
  private watcher?: (place: ReplyPlace | undefined) => Promise<void>;

  constructor(
    client: WebClient,
    private readonly target: SlackTarget,
    private readonly log: Logger,
    private readonly opts: SlackSinkOptions = {},
  ) {
    this.edits = new EditThrottle(opts.editIntervalMs ?? 1_000, (text) =>
      this.serial(() => this.flush(text)).catch((err: unknown) => this.log.warn({ err, channel: this.target.channel }, 'slack stream update failed')),
    );
    this.caps = opts.caps ?? newCapabilities(false);
    this.rawCall = slackCaller(client, log, target.channel);
    this.progress = new SlackProgress(target, this.caps, (method, args, quiet) => this.rawCall(method, args, { quiet }), opts.statusRefreshMs);
    this.poster = new SlackPoster(client, target, log, this.rawCall, opts.onReply);
    this.updates = new SlackUpdates(this.rawCall, this.thread, opts, () => this.moved());
    // Streaming needs a thread to stream into; a DM's top level is posted and edited.
    this.mode = target.threadTs && !this.caps.noStreaming.has(target.team) ? 'unknown' : 'update';
    this.continued = opts.continues;
    if (this.continued) this.mode = 'update';
  }

  private get thread(): { channel: string; thread_ts?: string } {
    return { channel: this.target.channel, ...(this.target.threadTs ? { thread_ts: this.target.threadTs } : {}) };
  }

  async waiting(): Promise<void> {
    // one per channel every few seconds, and only with budget to spare now: a flood of waiting
    // messages must not queue calls (or memory, or CPU) ahead of the answers
    if (this.target.viaResponseUrl || !this.opts.mayShowWaiting?.(`${this.target.team}:${this.target.channel}`)) return;
    if (this.opts.reserve && !this.opts.reserve(this.caps.agentView ? 'agents.sessions.setStatus' : 'reactions.add', 0, WAITING_HEADROOM)) return;
    await this.progress.waiting();
  }

  async status(s: TurnStatus): Promise<void> {
    if (this.target.viaResponseUrl) return;
    await this.progress.show(s);
    if (!this.tasksInStream) return;
    // a tool at work is a task in the stream's timeline; back to thinking, it is done
    if (s.kind === 'tool') {
      if (this.openTask?.title === toolTitle(s.name)) return;
      await this.closeTask();
      this.openTask = { id: `task${++this.taskSeq}`, title: toolTitle(s.name) };
      await this.pushTask({ type: 'task_update', id: this.openTask.id, title: this.openTask.title, status: 'in_progress' });
    } else {
      await this.closeTask();
    }
  }

  async text(soFar: string): Promise<void> {
    // a response_url takes five messages at most: one ephemeral answer at the end; a reply completed
    // in place is settled at `finish` in the messages it is in, not streamed again
    if (this.target.viaResponseUrl || this.continued) return;
    // what may be sent so far, with no mention left able to ping (a trailing `<` or `@…` waits for the next piece)
    this.latest = neutralizeMentions(soFar.slice(0, sendableLength(soFar)));
    this.edits.push(this.latest);
  }

  /** Stream operations one after another (text and task steps share one stream: never two starts). */
  private ops: Promise<unknown> = Promise.resolve();
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.ops.then(fn);
    this.ops = run.catch(() => undefined); // the caller gets run's failure; the chain only orders the next one
    return run;
  }

  private taskSeq = 0;
  private openTask?: { id: string; title: string };

  /** Tool steps go into the stream as Slack's task chunks (agent_view apps, a reply that can stream). */
  private get tasksInStream(): boolean {
    return this.caps.agentView && this.mode !== 'update' && !!this.target.threadTs && !this.target.viaResponseUrl;
  }

  /** Shows a task step in the stream (starting it if needed); false when the reply cannot stream, so the caller posts text instead. */
  private pushTask(chunk: { type: 'task_update'; id: string; title: string; status: 'pending' | 'in_progress' | 'complete' | 'error'; details?: string; output?: string }): Promise<boolean> {
    return this.serial(async () => {
      if (!this.tasksInStream) return false;
      if (this.mode === 'unknown') {
        if (this.opts.reserve && !this.opts.reserve('chat.startStream', STREAM_START_MAX_WAIT_MS)) {
          this.mode = 'update';
          return false;
        }
        const res = await this.rawCall('chat.startStream', { ...this.thread, chunks: [chunk], task_display_mode: 'timeline', ...streamRecipient(this.target) });
        if (!res.ok || typeof res.ts !== 'string') {
          if (res.error === 'unknown_method' || res.error === 'method_deprecated' || res.error === 'not_allowed_token_type') this.caps.noStreaming.add(this.target.team);
          this.mode = 'update';
          return false;
        }
        this.mode = 'stream';
        this.stream = { ts: res.ts, sent: 0, base: 0, full: false, startedAt: Date.now() };
        this.streamTs.push(res.ts);
        this.opts.onReply?.('stream');
        await this.moved();
        return true;
      }
      const s = this.stream!;
      if (this.caps.stoppedStreams.has(s.ts)) return false;
      const res = await this.rawCall('chat.appendStream', { channel: this.target.channel, ts: s.ts, chunks: [chunk] });
      if (!res.ok && res.error && STREAM_GONE.has(res.error)) this.streamGone(s);
      return res.ok;
    });
  }

  /** The tool step in progress is done. */
  private async closeTask(status: 'complete' | 'error' = 'complete', extra: { details?: string; output?: string } = {}): Promise<boolean> {
    const t = this.openTask;
    if (!t) return false;
    this.openTask = undefined;
    return this.pushTask({ type: 'task_update', id: t.id, title: t.title, status, ...extra });
  }

  private async flush(text: string): Promise<void> {
    if (this.mode === 'unknown' && this.opts.reserve && !this.opts.reserve('chat.startStream', STREAM_START_MAX_WAIT_MS)) {
      // chat.startStream is Tier 2 (about 20 a minute per workspace): a busy workspace posts and edits instead
      this.mode = 'update';
    }
    if (this.mode === 'unknown') {
      const first = messageEnd(text, 0);
      const res = await this.rawCall('chat.startStream', { ...this.thread, markdown_text: text.slice(0, first.end), ...streamRecipient(this.target) });
      if (res.ok && typeof res.ts === 'string') {
        this.mode = 'stream';
        this.stream = { ts: res.ts, sent: first.end, base: 0, full: first.full, startedAt: Date.now() };
        this.streamTs.push(res.ts);
        this.opts.onReply?.('stream');
        await this.moved();
        return this.flush(text);
      }
      if (res.error === 'unknown_method' || res.error === 'method_deprecated' || res.error === 'not_allowed_token_type') this.caps.noStreaming.add(this.target.team);
      this.log.info({ error: res.error, team: this.target.team }, 'chat.startStream unavailable: posting and editing instead');
      this.mode = 'update';
    }
    if (this.mode === 'stream') return this.appendStream(text);
    return this.showByUpdates(text);
  }

  /** Slack stopped the stream (the person clicked Stop): what is left is posted as messages of its own. */
  private streamGone(s: { base: number; sent: number }): void {
    this.mode = 'update';
    this.updates.startAfter(s.base + s.sent);
    // what follows goes in messages of its own: the place is none until the first is posted (then the streams and those)
    void this.moved();
  }

  private async appendStream(text: string, final = false): Promise<void> {
    let s = this.stream!;
    if (this.capped) return;
    if (this.caps.stoppedStreams.has(s.ts)) return this.streamGone(s);
    // an intermediate append can wait for the next one when the method is busy: nothing is lost, the next carries more
    if (!final && !s.full && this.opts.reserve && !this.opts.reserve('chat.appendStream', 0, FINAL_HEADROOM)) return;
    if (s.full && this.streamTs.length >= MAX_MESSAGES_PER_REPLY) {
      // one reply never floods the thread: the whole text is attached when it finishes
      this.capped = true;
      await this.call('chat.appendStream', { channel: this.target.channel, ts: s.ts, markdown_text: `\n\n_(This answer is long: the whole answer is attached as ${OVERFLOW_FILENAME}.)_` });
      return;
    }
    if (s.full || Date.now() - s.startedAt > STREAM_MAX_AGE_MS) {
      // this message is full (or the stream is getting old): stop it and go on in a new one,
      // closing a code block cut in two here and reopening it there, so each message renders on its own
      let base = s.base + s.sent;
      const fence = fenceAcross(text, base);
      if (fence) await this.call('chat.appendStream', { channel: this.target.channel, ts: s.ts, markdown_text: fence.close });
      base += fence?.skip ?? 0;
      if (await this.call('chat.stopStream', { channel: this.target.channel, ts: s.ts })) await this.progress.streamStopped(true);
      const next = messageEnd(text, base);
      const res = await this.rawCall('chat.startStream', { ...this.thread, markdown_text: (fence?.reopen ?? '') + text.slice(base, next.end) || ' ', ...streamRecipient(this.target) });
      if (!res.ok || typeof res.ts !== 'string') {
        this.mode = 'update';
        return;
      }
      s = this.stream = { ts: res.ts, base, sent: next.end - base, full: next.full, startedAt: Date.now() };
      this.streamTs.push(res.ts);
      await this.moved();
    }
    const from = s.base + s.sent;
    const { end, full } = messageEnd(text, s.base);
    const piece = text.slice(from, end);
    if (!piece) {
      if (!full) return;
      // This message already holds text past its last clean break (an early delta fitted whole):
      // it is full, so go on in the next one now, or the rest of the reply would never be sent.
      s.full = true;
      if (text.length > from) return this.appendStream(text);
      return;
    }
    const res = await this.rawCall('chat.appendStream', { channel: this.target.channel, ts: s.ts, markdown_text: piece });
    if (res.ok) {
      s.sent = end - s.base;
      s.full = full;
    } else if (res.error && STREAM_GONE.has(res.error)) {
      this.streamGone(s);
    }
  }

  /** Shows `text` by posting and editing messages (a capped reply's whole text goes as a file at the end). */
  private async showByUpdates(whole: string, final = false): Promise<void> {
    const { overflow } = await this.updates.show(whole, final);
    if (final && overflow) this.capped = true;
  }

  /**
   * Where the reply is, for the engine to keep (as it changes, and before the last part goes out),
   * so a restart can complete it in place: its streams and a digest of what they hold (stopped
   * again; their text replaced only if it is not the whole answer), the messages it was posted in
   * (their text always rewritten). A `chat.postMessage` whose answer never came is not in it.
   */
  async place(): Promise<ReplyPlace | undefined> {
    await this.edits.settle();
    await this.ops;
    return this.current();
  }

  watchPlace(changed: (place: ReplyPlace | undefined) => Promise<void>): void {
    this.watcher = changed;
  }

  /** Tells the engine where the reply is now (a stream started, the last words in, a file up, the stream gone). */
  private async moved(): Promise<void> {
    await this.watcher?.(this.current());
  }

  private current(): SlackPlace | undefined {
    if (this.continued) return { ...this.continued, uploads: this.uploads };
    if (this.target.viaResponseUrl || this.capped) return undefined;
    const posted = this.updates.postedTs();
    if (this.mode === 'stream' && this.stream && !this.caps.stoppedStreams.has(this.stream.ts)) {
      const held = this.latest.slice(0, this.stream.base + this.stream.sent);
      return { streams: [...this.streamTs], digest: digestOf(held), uploads: this.uploads, ...(posted.length ? { posted } : {}) };
    }
    // posted and edited (no stream, or past one the person stopped): a restart rewrites those messages
    return posted.length ? { streams: [...this.streamTs], digest: '', uploads: this.uploads, posted } : undefined;
  }

  /**
   * Completes a reply an earlier process was posting when it stopped. Its last call may have
   * landed or not: each stream is stopped again (one that is already stopped is refused, which is
   * fine), the last with the feedback buttons; if the streams do not hold the whole answer (it
   * died mid-stream, its last appends may not have landed, or it went on in posted messages),
   * their text and the posted messages' is replaced by it, and what does not fit is posted below.
   */
  private async completeInPlace(place: SlackPlace, text: string, turnId: string | undefined): Promise<void> {
    for (const ts of place.streams) await this.stopStream(ts, ts === place.streams.at(-1) && !place.posted ? [feedbackBlock(turnId)] : undefined);
    if (!place.posted && digestOf(text) === place.digest) return;
    this.updates.adopt(place.streams, place.posted);
    await this.showByUpdates(text, true);
  }

  async finish(reply: FinalReply): Promise<void> {
    await this.edits.settle();
    if (this.openTask) await this.closeTask();
    await this.ops;
    if (this.target.viaResponseUrl) {
      const links = reply.images.map((img) => `<${img.url}|${img.alt.replace(/[<>|]/g, '')}>`).join('\n');
      await this.poster.answerer.send([reply.text, links].filter(Boolean).join('\n\n') || '_(no answer)_');
      this.opts.onReply?.('final');
      return;
    }
    const text = neutralizeMentions(reply.text) || (reply.images.length ? '' : '_(no answer)_');
    if (this.continued) {
      await this.completeInPlace(this.continued, text, reply.turnId);
    } else if (this.mode === 'stream' && this.stream) {
      const streamed = this.latest.slice(0, this.stream.base + this.stream.sent);
      // the final text is trimmed: a stream that ended in blank space still matches it
      if (text.startsWith(streamed.trimEnd())) {
        this.latest = text;
        let appended = false;
        for (let progress = -1; this.mode === 'stream' && !this.capped && this.stream.base + this.stream.sent < text.length;) {
          const at = this.stream.base + this.stream.sent;
          if (at === progress) break; // Slack refused the append: stop rather than loop
          progress = at;
          await this.appendStream(text, true);
          appended = true;
        }
        // the streams now hold the whole answer: a restart from here only has to stop them
        if (appended && this.mode === 'stream') await this.moved();
        // the final reply ends with Slack's feedback buttons (context_actions → feedback_buttons)
        if (this.mode === 'stream') await this.stopStream(this.stream.ts, [feedbackBlock(reply.turnId)]);
        else await this.showByUpdates(text, true); // the stream is gone (Stop): the rest in a message of its own
      } else {
        // the final text differs from what streamed (an image URL became a caption): rewrite it
        await this.stopStream(this.stream.ts);
        this.updates.adopt(this.streamTs);
        await this.showByUpdates(text, true);
      }
    } else if (text) {
      await this.showByUpdates(text, true);
    }
    if (this.capped) await this.poster.upload(new TextEncoder().encode(text), OVERFLOW_FILENAME, 'The whole answer', 'The whole answer');
    await this.progress.rename(text);
    for (const img of reply.images.slice(this.continued?.uploads ?? 0)) {
      await this.poster.upload(img.bytes, img.filename, img.alt, img.alt);
      this.uploads++;
      // one more file out: a restart from here must not upload it again
      await this.moved();
    }
    // all out: a crash from here on must not be taken for one while posting
    await reply.delivered?.();
    this.opts.onReply?.('final');
    await this.progress.clear();
  }

  async code(raw: CodeStep): Promise<void> {
    if (this.tasksInStream) {
      const details = neutralizeMentions(raw.input).slice(0, 1_500);
      const output = neutralizeMentions(raw.output).slice(0, 1_500);
      const shown = this.openTask
        ? await this.closeTask('complete', { details, output })
        : await this.pushTask({ type: 'task_update', id: `task${++this.taskSeq}`, title: 'Ran Python code', status: 'complete', details, output });
      if (shown) {
        if (raw.output.length > 1_500) await this.poster.upload(new TextEncoder().encode(raw.output), 'output.txt', 'Code output', 'Code output');
        return;
      }
    }
    // the model's code and its output are text: no `<!channel>` in them pings anyone
    const { text, attachOutput } = codeStepMarkdown({ input: neutralizeMentions(raw.input), output: neutralizeMentions(raw.output) }, { language: '', longOutput: LONG_OUTPUT });
    await this.poster.post(text);
    if (attachOutput) await this.poster.upload(new TextEncoder().encode(raw.output), 'output.txt', 'Code output', 'Code output');
  }

  notice(text: string): Promise<void> {
    return this.poster.notice(text);
  }

  whisper(text: string): Promise<void> {
    return this.poster.whisper(text);
  }

  async fail(text: string): Promise<void> {
    if (this.target.viaResponseUrl) return this.poster.answerer.send(`:warning: ${text}`);
    await this.edits.settle();
    if (this.mode === 'stream' && this.stream && !this.caps.stoppedStreams.has(this.stream.ts)) await this.stopStream(this.stream.ts);
    // a reply an earlier process left streaming is not left hanging
    for (const ts of this.continued?.streams ?? []) await this.stopStream(ts);
    await this.poster.post(`:warning: ${text}`);
    this.opts.onReply?.('error');
    await this.progress.clear();
  }

  minutes(m: MinutesReply): Promise<void> {
    return this.poster.minutes(m);
  }

  /** Ends the reply's stream; Slack then takes the session out of `processing` (no setStatus needed after). */
  private async stopStream(ts: string, blocks?: unknown[]): Promise<void> {
    if (await this.call('chat.stopStream', { channel: this.target.channel, ts, ...(blocks ? { blocks } : {}) })) await this.progress.streamStopped();
  }

  private async call(method: string, args: Record<string, unknown>): Promise<boolean> {
    return (await this.rawCall(method, args)).ok;
  }
}
