import { TERMINAL_RUN_STATUSES } from '../assistant/index.js';
import type { HeldLock } from '../store/index.js';
import type { Conversations, ConversationRecord } from './conversations.js';
import type { EngineDeps } from './engine.js';
import { TurnError, humanMessage } from './errors.js';
import { attachImages } from './images.js';
import { executeRun } from './run.js';
import { safeHost, safely, watchText } from './sink-helpers.js';
import type { Inbound, ReplySink } from './types.js';

/** Why a turn's signal fired. */
export const [STOPPED, SHUTDOWN, TIMED_OUT] = ['stopped', 'shutdown', 'timed out'];

export interface AnswersDeps extends Pick<EngineDeps, 'api' | 'assistant' | 'registry' | 'images' | 'platforms' | 'log' | 'metrics'> {
  conversations: Conversations;
  runTimeoutMs: number;
  onRunStarted(key: string, runId: string): void;
  onTurnEnded(key: string, status: string, runId?: string): void;
}

/**
 * Answering one conversation's turn: the run streamed into the reply, with stop, timeout and a
 * lost lock handled; a run left from before (a crash, a shutdown, a cancel that was not
 * supported) finished and delivered, or reported; one log line and the metrics for each turn.
 */
export class Answers {
  /** Turns answering in this process, by conversation: `stop` aborts them. */
  readonly active = new Map<string, AbortController>();

  constructor(private readonly deps: AnswersDeps) {}

  /** Runs the assistant on the turn's messages and delivers the reply to the last one's sink. */
  async answer(rec: ConversationRecord, m: Inbound, lock: HeldLock): Promise<void> {
    const ac = new AbortController();
    this.active.set(rec.key, ac);
    const timeout = AbortSignal.timeout(this.deps.runTimeoutMs);
    const signal = AbortSignal.any([ac.signal, lock.lost, timeout]);
    const started = performance.now();
    let runId: string | undefined;
    let partial = '';
    const sink = this.marked(rec, watchText(m.sink, (t) => (partial = t)));
    try {
      const outcome = await executeRun({
        ...this.runBase(rec, sink, signal, m.author.id),
        metadata: { conversation: rec.key.slice(0, 128) },
        additionalInstructions: m.context,
        onRunId: async (id) => {
          runId = id;
          await this.deps.conversations.startRun(rec, id, m.target);
          this.deps.onRunStarted(rec.key, id);
        },
      });
      await this.deliver(outcome.text, sink);
      this.observe(rec.key, 'completed', started, outcome);
      await this.deps.conversations.endRun(rec);
    } catch (err) {
      const reason = ac.signal.aborted ? ac.signal.reason : timeout.aborted ? TIMED_OUT : lock.lost.aborted ? 'lock lost' : undefined;
      if (reason === SHUTDOWN) {
        // leave the turn for the next start, which finishes this run and delivers the reply: it did not crash us
        rec.delivering = undefined;
        await this.deps.conversations.save(rec).catch((e: unknown) => this.deps.log.warn({ err: e, conversation: rec.key }, 'could not mark the reply safe to deliver'));
        this.deps.log.info({ conversation: rec.key, runId }, 'turn left for recovery at shutdown');
        return;
      }
      if (runId && reason) await this.cancelOrAbandon(rec, runId);
      else if (reason) {
        // Stopped before the run's id came back: DashScope may have made the run all the same.
        // Keep the turn and mark it abandoned, so the next turn finds that run, cancels it or waits it out.
        rec.abandoned = true;
        await this.deps.conversations.save(rec).catch(() => undefined);
      }
      this.observe(rec.key, reason === STOPPED ? 'stopped' : reason === TIMED_OUT ? 'timeout' : err instanceof TurnError ? err.code : 'error', started, { runId }, err);
      if (reason === STOPPED) await safely(() => sink.finish({ text: partial ? `${partial}\n\n_(stopped)_` : '_(stopped)_', images: [] }), this.deps.log);
      else if (reason === TIMED_OUT) await safely(() => sink.fail('That took too long, so I stopped it. Please try again.'), this.deps.log);
      else await safely(() => sink.fail(humanMessage(err)), this.deps.log);
      if (!rec.abandoned && (rec.activeRunId || rec.turn)) await this.deps.conversations.endRun(rec).catch(() => undefined);
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
      await this.deps.conversations.save(rec).catch(() => undefined);
    }
  }

  /**
   * The same sink, with the record marked `delivering` before the reply's first text or its final
   * answer reaches the platform (see ConversationRecord.delivering).
   */
  private marked(rec: ConversationRecord, out: ReplySink): ReplySink {
    let marking: Promise<void> | undefined;
    const mark = () =>
      (marking ??= (async () => {
        rec.delivering = Date.now();
        await this.deps.conversations.save(rec);
      })());
    return {
      ...out,
      status: (st) => out.status(st),
      code: (step) => out.code(step),
      notice: (t) => out.notice(t),
      fail: (t) => out.fail(t),
      minutes: (mm) => out.minutes(mm),
      text: async (t) => (await mark(), out.text(t)),
      finish: async (r) => (await mark(), out.finish(r)),
    };
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
  async settle(rec: ConversationRecord, lock: HeldLock): Promise<void> {
    const port = this.deps.platforms[rec.target.platform];
    const poisoned = !!rec.delivering && !rec.abandoned;
    const sink = rec.abandoned || poisoned ? undefined : port?.sinkFor(rec.target);
    if (poisoned) {
      // The last process died while posting this reply, perhaps because of it: never post it again.
      this.deps.log.error({ conversation: rec.key, runId: rec.activeRunId, since: rec.delivering }, 'reply dropped: the process stopped while posting it');
      this.deps.metrics?.runs.inc({ status: 'dropped' });
      const told = port?.sinkFor(rec.target);
      // status first: a sink only clears progress (the 👀 the dead process left) that it knows about
      if (told) await safely(async () => (await told.status({ kind: 'thinking' }), await told.fail('I could not post my last answer here, so I dropped it rather than try again. Please ask again.')), this.deps.log);
    }
    const signal = AbortSignal.any([lock.lost, AbortSignal.timeout(this.deps.runTimeoutMs)]);
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
          ...this.runBase(rec, this.marked(rec, sink), signal),
          ...(runId ? { resumeRunId: runId } : { metadata: { conversation: rec.key.slice(0, 128) } }),
          onRunId: async (id) => {
            if (!runId) await this.deps.conversations.startRun(rec, id, rec.target);
          },
        });
        await this.deliver(outcome.text, this.marked(rec, sink));
        this.observe(rec.key, 'recovered', started, outcome);
      } catch (err) {
        this.observe(rec.key, 'interrupted', started, { runId }, err);
        await safely(() => sink.fail('I was interrupted while answering your last message. Please ask again.'), this.deps.log);
      }
    }
    rec.abandoned = undefined;
    await this.deps.conversations.endRun(rec);
  }

  private observe(key: string, status: string, started: number, o: { runId?: string; requestId?: string; firstTextMs?: number; toolCalls?: number }, err?: unknown): void {
    const ms = Math.round(performance.now() - started);
    this.deps.onTurnEnded(key, status, o.runId);
    this.deps.metrics?.runs.inc({ status });
    this.deps.metrics?.runDuration.observe(ms / 1000);
    if (o.firstTextMs !== undefined) this.deps.metrics?.firstText.observe(o.firstTextMs / 1000);
    const line = { conversation: key, runId: o.runId, requestId: o.requestId, status, ms, firstTextMs: o.firstTextMs && Math.round(o.firstTextMs), toolCalls: o.toolCalls, err };
    if (err && status !== 'stopped') this.deps.log.warn(line, 'turn');
    else this.deps.log.info(line, 'turn');
  }
}
