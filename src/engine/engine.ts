import { EventEmitter } from 'node:events';
import { TERMINAL_RUN_STATUSES, type AssistantClient } from '../assistant/index.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { HeldLock, Store } from '../store/index.js';
import type { ReadyAssistant } from './bootstrap.js';
import { helpText, parseCommand, type Command } from './commands.js';
import { Conversations, type ConversationRecord } from './conversations.js';
import { TurnError, humanMessage } from './errors.js';
import { attachImages, type ImageFetcher } from './images.js';
import { RateLimiter } from './rate-limit.js';
import { TurnQueue } from './turn-queue.js';
import { safeHost, safely, silentSink, watchText } from './sink-helpers.js';
import { executeRun } from './run.js';
import type { ToolRegistry } from './tools/registry.js';
import type { Inbound, PlatformPort, ReplySink } from './types.js';

/** Meeting notes plug into the engine through this (see src/engine/meetings/). */
export interface MeetingDesk {
  command(m: Inbound, action: 'start' | 'stop' | 'summary' | 'status', title?: string): Promise<void>;
  /** The meeting running in a channel, if any (opaque to the engine). */
  get(channelKey: string): Promise<object | undefined>;
  /** Captures the message when a meeting runs in its channel (`known`: what `get` just gave); a no-op otherwise. */
  capture(m: Inbound, known?: object): Promise<void>;
  isActive(channelKey: string): Promise<boolean>;
}

export interface EngineOptions {
  runTimeoutMs?: number;
  idleResetMs?: number;
  turnsPerMinute?: number;
  /** Longer messages are cut, with a notice (default 12,000 characters). */
  maxInputChars?: number;
  dedupeTtlMs?: number;
  lockTtlMs?: number;
  /** Shown before commands in help (e.g. `@Threadline ` or `/assistant `). */
  commandPrefix?: string;
}

export interface EngineDeps {
  api: AssistantClient;
  store: Store;
  assistant: ReadyAssistant;
  registry: ToolRegistry;
  images: ImageFetcher;
  platforms: Partial<Record<'slack' | 'discord', PlatformPort>>;
  log: Logger;
  metrics?: Metrics;
  meetings?: MeetingDesk;
  options?: EngineOptions;
}


const [STOPPED, SHUTDOWN, TIMED_OUT] = ['stopped', 'shutdown', 'timed out'];

/**
 * The platform-neutral heart: every inbound message goes through `receive`. Duplicates are
 * dropped, commands answered, meeting lines captured, and everything else becomes a turn on the
 * conversation's Assistant thread — one run at a time per thread, with messages that arrive
 * mid-run queued and answered together after it.
 */
export class Engine extends EventEmitter<{ 'run-started': [{ key: string; runId: string }]; 'turn-ended': [{ key: string; status: string; runId?: string }] }> {
  readonly conversations: Conversations;
  meetings?: MeetingDesk;
  private readonly queue: TurnQueue;
  private readonly active = new Map<string, AbortController>();
  private readonly limiter: RateLimiter;
  private readonly opts: Required<Omit<EngineOptions, 'idleResetMs'>> & { idleResetMs?: number };
  private accepting = true;

  constructor(private readonly deps: EngineDeps) {
    super();
    this.opts = {
      runTimeoutMs: 10 * 60_000,
      turnsPerMinute: 0,
      maxInputChars: 12_000,
      dedupeTtlMs: 24 * 3_600_000,
      lockTtlMs: 10_000,
      commandPrefix: '',
      ...deps.options,
    };
    this.conversations = new Conversations(deps.store, { idleResetMs: this.opts.idleResetMs });
    this.queue = new TurnQueue({
      store: deps.store,
      conversations: this.conversations,
      log: deps.log,
      metrics: deps.metrics,
      lockTtlMs: this.opts.lockTtlMs,
      lockWaitMs: this.opts.runTimeoutMs + 60_000,
      sinkFor: (q) => this.deps.platforms[q.target.platform]?.sinkFor(q.target) ?? silentSink(this.deps.log),
      onBatch: (key, batch, lock, drop) => this.turn(key, batch, lock, drop),
      onLockFailure: async (batch, err) => {
        for (const m of batch) await safely(() => m.sink.fail(humanMessage(err)), this.deps.log);
      },
    });
    this.limiter = new RateLimiter(deps.store, this.opts.turnsPerMinute);
    this.meetings = deps.meetings;
  }

  /** Lets an adapter that starts after the engine receive recovered replies and meeting minutes. */
  addPlatform(name: 'slack' | 'discord', port: PlatformPort): void {
    this.deps.platforms[name] = port;
  }

  /** A sink for a stored target, when its platform runs in this process. */
  sinkFor(target: Inbound['target']): ReplySink | undefined {
    return this.deps.platforms[target.platform]?.sinkFor(target);
  }

  get assistant(): ReadyAssistant {
    return this.deps.assistant;
  }

  /** Handles one inbound message. Never throws: failures become a short message in the chat and a log line. */
  async receive(m: Inbound): Promise<void> {
    try {
      await this.dispatch(m);
    } catch (err) {
      this.deps.log.error({ err, conversation: m.key, event: m.eventId }, 'inbound message failed');
      await safely(() => m.sink.fail(humanMessage(err)), this.deps.log);
    }
  }

  private async dispatch(m: Inbound): Promise<void> {
    if (!this.accepting) {
      if (m.kind !== 'ambient') await m.sink.fail('I am restarting right now. Please send that again in a minute.');
      return;
    }
    // Most channel chatter is not for us: without a meeting there, drop it before claiming anything.
    // The meeting read here is the one the capture below uses.
    let meeting: object | undefined;
    if (m.kind === 'ambient') {
      meeting = await this.meetings?.get(m.channelKey);
      if (!meeting) return;
    }
    if (!m.claimed && !(await this.claimEvent(m.eventId))) {
      this.deps.log.debug({ event: m.eventId }, 'duplicate event dropped');
      return;
    }
    const command = m.kind === 'ambient' ? undefined : parseCommand(m.text);
    if (command) return this.command(m, command);
    await this.meetings?.capture(m, meeting);
    if (m.kind === 'ambient') return;
    if (!m.text.trim()) {
      await m.sink.notice('Hi! Ask me anything, or say `help` to see what I can do.');
      return;
    }
    if (!(await this.limiter.allow(`${m.target.platform}:${m.author.id}`))) {
      await m.sink.fail('You are sending messages faster than I can answer. Please wait a minute and try again.');
      return;
    }
    await this.queue.push(m);
  }

  /** Whether channel messages not addressed to the bot matter in this channel (a meeting takes notes there). */
  async wantsAmbient(channelKey: string): Promise<boolean> {
    return !!this.meetings && (await this.meetings.isActive(channelKey));
  }

  /**
   * Claims a message id: true the first time, false for every repeat (across instances with
   * Redis). Adapters may call it early (before parsing) and pass `claimed` on the Inbound.
   */
  claimEvent(eventId: string): Promise<boolean> {
    return this.deps.store.claim(`event:${eventId}`, this.opts.dedupeTtlMs);
  }

  private async command(m: Inbound, c: Command): Promise<void> {
    switch (c.name) {
      case 'help':
        return m.sink.notice(
          helpText({
            assistantTools: this.deps.assistant.toolTypes,
            localTools: this.deps.registry.list().map((t) => t.name),
            commandPrefix: this.opts.commandPrefix,
            meetings: !!this.meetings,
          }),
        );
      case 'reset': {
        const local = this.active.get(m.key);
        local?.abort(STOPPED);
        const rec = await this.conversations.reset(m.key);
        if (!local && rec?.activeRunId) await this.deps.api.runs.cancel(rec.threadId, rec.activeRunId).catch(() => undefined);
        return m.sink.notice(rec ? 'Starting fresh: I have forgotten this conversation.' : 'There was nothing to forget here; we are starting fresh.');
      }
      case 'stop':
        return m.sink.notice((await this.stop(m.key)) ? 'Stopped.' : 'Nothing to stop: I am not answering anything here.');
      case 'notes':
        if (!this.meetings) return m.sink.notice('Meeting notes are not available yet.');
        return this.meetings.command(m, c.action, c.title);
    }
  }

  /** Stops the answer in progress in a conversation (here or on another instance). */
  async stop(key: string): Promise<boolean> {
    const local = this.active.get(key);
    const rec = await this.conversations.get(key);
    // Running here: the aborted turn cancels its own run. Running on another instance: cancel it
    // through the API, and that instance's stream ends with the cancellation.
    if (local) local.abort(STOPPED);
    else if (rec?.activeRunId) await this.deps.api.runs.cancel(rec.threadId, rec.activeRunId).catch(() => undefined);
    const queued = await this.queue.length(key).catch(() => 0);
    return !!local || !!rec?.activeRunId || queued > 0;
  }

  /** One turn: settle a run left from before, add the batch's messages, run once, reply. */
  private async turn(key: string, queued: Inbound[], lock: HeldLock, dropQueued: () => Promise<void>): Promise<void> {
    let rec: ConversationRecord | undefined;
    let batch = queued;
    try {
      rec = await this.conversations.current(key);
      if (rec?.activeRunId || rec?.turn) {
        const carried = new Set(rec.turn?.events ?? []);
        await this.settle(rec, lock);
        // messages the interrupted turn had already added to the thread were answered by it
        batch = batch.filter((m) => !carried.has(m.eventId));
      }
      if (batch.length === 0) return;
      const last = batch[batch.length - 1];
      const messages = [];
      for (const m of batch) {
        let text = m.text;
        if (text.length > this.opts.maxInputChars) {
          text = `${text.slice(0, this.opts.maxInputChars)}\n[message cut: it was ${m.text.length} characters long]`;
          await m.sink.notice(`Your message was very long, so I read only its first ${this.opts.maxInputChars.toLocaleString('en-US')} characters.`);
        }
        messages.push({ role: 'user' as const, content: m.group ? `${m.author.name}: ${text}` : text, metadata: { ...m.metadata, author_id: m.author.id.slice(0, 64) } });
      }
      const turn = { events: batch.map((m) => m.eventId), startedAt: Date.now() };
      if (!rec) {
        // A new conversation: its Assistant thread is created with the first messages in one request.
        const thread = await this.deps.api.threads.create({ messages, metadata: { conversation: key.slice(0, 128) } });
        rec = { key, threadId: thread.id, target: last.target, createdAt: Date.now(), lastActivity: Date.now(), turn };
      } else {
        for (const msg of messages) await this.deps.api.messages.create(rec.threadId, msg);
        rec.turn = turn;
        rec.target = last.target;
      }
      // The record says which messages this turn carries before the queue lets go of them.
      await this.conversations.save(rec);
      await dropQueued();
      await this.answer(rec, last, lock);
    } catch (err) {
      this.deps.log.warn({ err, conversation: key }, 'turn failed before the run');
      const sink = batch[batch.length - 1]?.sink;
      if (sink) await safely(() => sink.fail(humanMessage(err)), this.deps.log);
    }
  }

  private async answer(rec: ConversationRecord, m: Inbound, lock: HeldLock): Promise<void> {
    const ac = new AbortController();
    this.active.set(rec.key, ac);
    const timeout = AbortSignal.timeout(this.opts.runTimeoutMs);
    const signal = AbortSignal.any([ac.signal, lock.lost, timeout]);
    const started = performance.now();
    let runId: string | undefined;
    let partial = '';
    const sink = watchText(m.sink, (t) => (partial = t));
    try {
      const outcome = await executeRun({
        ...this.runBase(rec, sink, signal, m.author.id),
        metadata: { conversation: rec.key.slice(0, 128) },
        additionalInstructions: m.context,
        onRunId: async (id) => {
          runId = id;
          await this.conversations.startRun(rec, id, m.target);
          this.emit('run-started', { key: rec.key, runId: id });
        },
      });
      await this.deliver(outcome.text, sink);
      this.observe(rec.key, 'completed', started, outcome);
      await this.conversations.endRun(rec);
    } catch (err) {
      const reason = ac.signal.aborted ? ac.signal.reason : timeout.aborted ? TIMED_OUT : lock.lost.aborted ? 'lock lost' : undefined;
      if (reason === SHUTDOWN) {
        // leave the record as it is: the next start finishes this run and delivers the reply
        this.deps.log.info({ conversation: rec.key, runId }, 'turn left for recovery at shutdown');
        return;
      }
      if (runId && reason) await this.cancelOrAbandon(rec, runId);
      else if (reason) {
        // Stopped before the run's id came back: DashScope may have made the run all the same.
        // Keep the turn and mark it abandoned, so the next turn finds that run, cancels it or waits it out.
        rec.abandoned = true;
        await this.conversations.save(rec).catch(() => undefined);
      }
      this.observe(rec.key, reason === STOPPED ? 'stopped' : reason === TIMED_OUT ? 'timeout' : err instanceof TurnError ? err.code : 'error', started, { runId }, err);
      if (reason === STOPPED) await safely(() => sink.finish({ text: partial ? `${partial}\n\n_(stopped)_` : '_(stopped)_', images: [] }), this.deps.log);
      else if (reason === TIMED_OUT) await safely(() => sink.fail('That took too long, so I stopped it. Please try again.'), this.deps.log);
      else await safely(() => sink.fail(humanMessage(err)), this.deps.log);
      if (!rec.abandoned && (rec.activeRunId || rec.turn)) await this.conversations.endRun(rec).catch(() => undefined);
    } finally {
      if (this.active.get(rec.key) === ac) this.active.delete(rec.key);
    }
  }

  /** Cancels a run we gave up on; when cancel is not supported, remembers it so the next turn waits it out. */
  private async cancelOrAbandon(rec: ConversationRecord, runId: string): Promise<void> {
    try {
      await this.deps.api.runs.cancel(rec.threadId, runId);
    } catch {
      // Refused: either it is already ending (someone cancelled it first) or cancel is not supported.
      const run = await this.deps.api.runs.retrieve(rec.threadId, runId).catch(() => undefined);
      if (run && (run.status === 'cancelling' || TERMINAL_RUN_STATUSES.has(run.status))) return;
      rec.abandoned = true;
      await this.conversations.save(rec).catch(() => undefined);
    }
  }

  private runBase(rec: ConversationRecord, sink: ReplySink, signal: AbortSignal, userId?: string) {
    return {
      api: this.deps.api,
      threadId: rec.threadId,
      assistantId: this.deps.assistant.id,
      tools: [...this.deps.assistant.runTools, ...this.deps.registry.definitions()],
      registry: this.deps.registry,
      sink,
      signal,
      conversationKey: rec.key,
      userId,
      onToolCall: (name: string, ok: boolean) => this.deps.metrics?.toolCalls.inc({ tool: name, outcome: ok ? 'ok' : 'error' }),
    };
  }

  private async deliver(text: string, sink: ReplySink): Promise<void> {
    const reply = await attachImages(text, this.deps.images, (url, err) => this.deps.log.warn({ host: safeHost(url), reason: err.message }, 'image not attached'));
    await sink.finish(reply.text || reply.images.length ? reply : { text: '_(The assistant returned an empty answer.)_', images: [] });
  }

  /**
   * A run is still marked active from before (a crash, a shutdown, a cancel that was not
   * supported): finish it and deliver its reply to the stored target, or say it was interrupted.
   */
  private async settle(rec: ConversationRecord, lock: HeldLock): Promise<void> {
    const port = this.deps.platforms[rec.target.platform];
    const sink = rec.abandoned ? undefined : port?.sinkFor(rec.target);
    const signal = AbortSignal.any([lock.lost, AbortSignal.timeout(this.opts.runTimeoutMs)]);
    const started = performance.now();
    let runId = rec.activeRunId;
    if (!runId && rec.turn) {
      // The process died between adding the messages and saving the run id: find the run on the thread.
      const latest = (await this.deps.api.runs.list(rec.threadId, { order: 'desc', limit: 1 }).catch(() => undefined))?.data[0];
      if (latest && (latest.created_at ?? 0) >= rec.turn.startedAt - 5_000) runId = latest.id;
    }
    if (!sink) {
      // Nobody waits for this run's answer: stop it, or where cancel is not supported, wait it out.
      if (runId) {
        await this.deps.api.runs.cancel(rec.threadId, runId).catch(() => undefined);
        await this.deps.api.runs.wait(rec.threadId, runId, { signal: AbortSignal.timeout(60_000) }).catch(() => undefined);
      }
    } else {
      try {
        // No run was created before the crash: the messages are on the thread, so answer them now.
        const outcome = await executeRun({
          ...this.runBase(rec, sink, signal),
          ...(runId ? { resumeRunId: runId } : { metadata: { conversation: rec.key.slice(0, 128) } }),
          onRunId: async (id) => {
            if (!runId) await this.conversations.startRun(rec, id, rec.target);
          },
        });
        await this.deliver(outcome.text, sink);
        this.observe(rec.key, 'recovered', started, outcome);
      } catch (err) {
        this.observe(rec.key, 'interrupted', started, { runId }, err);
        await safely(() => sink.fail('I was interrupted while answering your last message. Please ask again.'), this.deps.log);
      }
    }
    rec.abandoned = undefined;
    await this.conversations.endRun(rec);
  }

  /** After a restart: finish or report every run that was in flight when the last process stopped. */
  async recover(): Promise<number> {
    let n = 0;
    for (const key of await this.conversations.inFlight()) {
      const rec = await this.conversations.get(key);
      if (rec && !this.deps.platforms[rec.target.platform]) continue; // another instance serves that platform
      this.queue.resume(key);
      n++;
    }
    return n;
  }

  private observe(key: string, status: string, started: number, o: { runId?: string; requestId?: string; firstTextMs?: number; toolCalls?: number }, err?: unknown): void {
    const ms = Math.round(performance.now() - started);
    this.emit('turn-ended', { key, status, runId: o.runId });
    this.deps.metrics?.runs.inc({ status });
    this.deps.metrics?.runDuration.observe(ms / 1000);
    if (o.firstTextMs !== undefined) this.deps.metrics?.firstText.observe(o.firstTextMs / 1000);
    const line = { conversation: key, runId: o.runId, requestId: o.requestId, status, ms, firstTextMs: o.firstTextMs && Math.round(o.firstTextMs), toolCalls: o.toolCalls, err };
    if (err && status !== 'stopped') this.deps.log.warn(line, 'turn');
    else this.deps.log.info(line, 'turn');
  }

  /** Resolves when no turn is running or queued (tests and shutdown). */
  async idle(): Promise<void> {
    await this.queue.idle();
  }

  /** Turns running or queued right now. */
  get busy(): number {
    return this.queue.busy;
  }

  /**
   * Stops taking messages and lets turns in flight finish until the deadline; turns still
   * running then are left in the store for the next start to finish.
   */
  async drain(deadlineMs: number): Promise<{ finished: boolean }> {
    this.accepting = false;
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([this.idle().then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), deadlineMs)))]);
    clearTimeout(timer);
    if (!finished) {
      for (const ac of this.active.values()) ac.abort(SHUTDOWN);
      await Promise.race([this.idle(), new Promise((r) => setTimeout(r, 2_000))]);
    }
    return { finished };
  }
}
