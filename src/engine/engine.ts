import { EventEmitter } from 'node:events';
import type { AssistantClient } from '../assistant/index.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { HeldLock, Store } from '../store/index.js';
import type { ReadyAssistant } from './bootstrap.js';
import { helpText, parseCommand, type Command } from './commands.js';
import { Conversations, type ConversationRecord } from './conversations.js';
import { TurnError, humanMessage } from './errors.js';
import { attachImages, type ImageFetcher } from './images.js';
import { RateLimiter } from './rate-limit.js';
import { executeRun } from './run.js';
import type { ToolRegistry } from './tools/registry.js';
import type { Inbound, PlatformPort, ReplySink } from './types.js';

/** Meeting notes plug into the engine through this (see src/engine/meetings/). */
export interface MeetingDesk {
  command(m: Inbound, action: 'start' | 'stop' | 'summary' | 'status', title?: string): Promise<void>;
  /** Captures the message when a meeting runs in its channel; a no-op otherwise. */
  capture(m: Inbound): Promise<void>;
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

type Job = Inbound | { resume: true };

const STOPPED = 'stopped';
const SHUTDOWN = 'shutdown';
const TIMED_OUT = 'timed out';

/**
 * The platform-neutral heart: every inbound message goes through `receive`. Duplicates are
 * dropped, commands answered, meeting lines captured, and everything else becomes a turn on the
 * conversation's Assistant thread — one run at a time per thread, with messages that arrive
 * mid-run queued and answered together after it.
 */
export class Engine extends EventEmitter<{ 'run-started': [{ key: string; runId: string }]; 'turn-ended': [{ key: string; status: string; runId?: string }] }> {
  readonly conversations: Conversations;
  meetings?: MeetingDesk;
  private readonly queues = new Map<string, Job[]>();
  private readonly workers = new Map<string, Promise<void>>();
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
      lockTtlMs: 30_000,
      commandPrefix: '',
      ...deps.options,
    };
    this.conversations = new Conversations(deps.store, { idleResetMs: this.opts.idleResetMs });
    this.limiter = new RateLimiter(this.opts.turnsPerMinute);
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
    // Most channel chatter is not for us: without a meeting there, drop it before touching the store.
    if (m.kind === 'ambient' && !(this.meetings && (await this.meetings.isActive(m.channelKey)))) return;
    if (!m.claimed && !(await this.claimEvent(m.eventId))) {
      this.deps.log.debug({ event: m.eventId }, 'duplicate event dropped');
      return;
    }
    const command = m.kind === 'ambient' ? undefined : parseCommand(m.text);
    if (command) return this.command(m, command);
    await this.meetings?.capture(m);
    if (m.kind === 'ambient') return;
    if (!m.text.trim()) {
      await m.sink.notice('Hi! Ask me anything, or say `help` to see what I can do.');
      return;
    }
    if (!this.limiter.allow(`${m.target.platform}:${m.author.id}`)) {
      await m.sink.fail('You are sending messages faster than I can answer. Please wait a minute and try again.');
      return;
    }
    this.enqueue(m.key, m);
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
        this.active.get(m.key)?.abort(STOPPED);
        const rec = await this.conversations.reset(m.key);
        if (rec?.activeRunId) await this.deps.api.runs.cancel(rec.threadId, rec.activeRunId).catch(() => undefined);
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
    if (rec?.activeRunId) await this.deps.api.runs.cancel(rec.threadId, rec.activeRunId).catch(() => undefined);
    if (local) local.abort(STOPPED);
    const queued = this.queues.get(key)?.length ?? 0;
    return !!local || !!rec?.activeRunId || queued > 0;
  }

  private enqueue(key: string, job: Job): void {
    const q = this.queues.get(key) ?? [];
    q.push(job);
    this.queues.set(key, q);
    this.deps.metrics?.queueDepth.inc();
    if (this.workers.has(key)) return;
    const worker = this.work(key).finally(() => this.workers.delete(key));
    this.workers.set(key, worker);
  }

  private take(key: string): Job[] {
    const q = this.queues.get(key) ?? [];
    this.queues.delete(key);
    this.deps.metrics?.queueDepth.dec(q.length);
    return q;
  }

  private async work(key: string): Promise<void> {
    while ((this.queues.get(key)?.length ?? 0) > 0) {
      let lock: HeldLock;
      try {
        lock = await this.deps.store.lock(`conversation:${key}`, { ttlMs: this.opts.lockTtlMs, waitMs: this.opts.runTimeoutMs + 60_000 });
      } catch (err) {
        this.deps.log.warn({ err, conversation: key }, 'could not take the conversation lock');
        for (const job of this.take(key)) if ('sink' in job) await safely(() => job.sink.fail(humanMessage(err)), this.deps.log);
        continue;
      }
      try {
        await this.turn(key, this.take(key), lock);
      } catch (err) {
        this.deps.log.error({ err, conversation: key }, 'turn crashed');
      } finally {
        await lock.release();
      }
    }
  }

  /** One turn: settle a run left from before, add the batch's messages, run once, reply. */
  private async turn(key: string, jobs: Job[], lock: HeldLock): Promise<void> {
    const batch = jobs.filter((j): j is Inbound => 'sink' in j);
    let rec: ConversationRecord | undefined;
    try {
      rec = await this.conversations.current(key);
      if (rec?.activeRunId) await this.settle(rec, lock);
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
      if (!rec) {
        // A new conversation: its Assistant thread is created with the first messages in one request.
        const thread = await this.deps.api.threads.create({ messages, metadata: { conversation: key.slice(0, 128) } });
        rec = { key, threadId: thread.id, target: last.target, createdAt: Date.now(), lastActivity: Date.now() };
        await this.conversations.save(rec);
      } else {
        for (const msg of messages) await this.deps.api.messages.create(rec.threadId, msg);
      }
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
    const out = m.sink;
    const sink: ReplySink = {
      status: (st) => out.status(st),
      text: (t) => ((partial = t), out.text(t)),
      code: (step) => out.code(step),
      finish: (r) => out.finish(r),
      notice: (t) => out.notice(t),
      fail: (t) => out.fail(t),
      minutes: (mm) => out.minutes(mm),
    };
    try {
      const outcome = await executeRun({
        ...this.runBase(rec, sink, signal, m.author.id),
        metadata: { conversation: rec.key.slice(0, 128) },
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
      this.observe(rec.key, reason === STOPPED ? 'stopped' : reason === TIMED_OUT ? 'timeout' : err instanceof TurnError ? err.code : 'error', started, { runId }, err);
      if (reason === STOPPED) await safely(() => sink.finish({ text: partial ? `${partial}\n\n_(stopped)_` : '_(stopped)_', images: [] }), this.deps.log);
      else if (reason === TIMED_OUT) await safely(() => sink.fail('That took too long, so I stopped it. Please try again.'), this.deps.log);
      else await safely(() => sink.fail(humanMessage(err)), this.deps.log);
      if (!rec.abandoned && rec.activeRunId) await this.conversations.endRun(rec).catch(() => undefined);
    } finally {
      if (this.active.get(rec.key) === ac) this.active.delete(rec.key);
    }
  }

  /** Cancels a run we gave up on; when cancel is not supported, remembers it so the next turn waits it out. */
  private async cancelOrAbandon(rec: ConversationRecord, runId: string): Promise<void> {
    try {
      await this.deps.api.runs.cancel(rec.threadId, runId);
    } catch {
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
    const runId = rec.activeRunId!;
    const port = this.deps.platforms[rec.target.platform];
    const sink = rec.abandoned ? undefined : port?.sinkFor(rec.target);
    const signal = AbortSignal.any([lock.lost, AbortSignal.timeout(this.opts.runTimeoutMs)]);
    const started = performance.now();
    if (!sink) {
      await this.deps.api.runs.wait(rec.threadId, runId, { signal: AbortSignal.timeout(60_000) }).catch(() => undefined);
    } else {
      try {
        const outcome = await executeRun({ ...this.runBase(rec, sink, signal), resumeRunId: runId });
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
      if (!rec?.activeRunId) {
        await this.conversations.forgetInFlight(key);
        continue;
      }
      if (!this.deps.platforms[rec.target.platform]) continue; // another instance serves that platform
      this.enqueue(key, { resume: true });
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
    while (this.workers.size > 0) await Promise.allSettled([...this.workers.values()]);
  }

  /** Turns running or queued right now. */
  get busy(): number {
    return this.workers.size;
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

async function safely(fn: () => Promise<unknown>, log: Logger): Promise<void> {
  try {
    await fn();
  } catch (err) {
    log.warn({ err }, 'could not post to the chat');
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid';
  }
}
