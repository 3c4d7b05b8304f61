import type { TurnEvent, TurnRequest } from '../backends/backend.js';
import type { HeldLock } from '../store/index.js';
import type { Conversations, ConversationRecord } from './conversations.js';
import type { EngineDeps } from './engine.js';
import { TurnError, humanMessage, refusedToolLine } from './errors.js';
import { attachImages } from './images.js';
import { overrideSink, safeHost, safely, watchText } from './sink-helpers.js';
import { executeTurn, type TurnOutcome } from './turn.js';
import type { Inbound, ReplySink } from './types.js';

/**
 * Said after a restart when the last process stopped while posting the answer: it may have died
 * of it (never post it again), or while its last part went out and the sink cannot tell where the
 * reply is. Either way the person is told the truth: it may be incomplete.
 */
export const INTERRUPTED_DELIVERY = 'I was restarted while posting my last answer, so I did not post it again. If it looks incomplete above, please ask again.';

/** Why a turn's signal fired. */
export const [STOPPED, SHUTDOWN, TIMED_OUT] = ['stopped', 'shutdown', 'timed out'];

export interface AnswersDeps extends Pick<EngineDeps, 'backend' | 'registry' | 'images' | 'platforms' | 'log' | 'metrics'> {
  conversations: Conversations;
  runTimeoutMs: number;
  onRunStarted(key: string, runId: string): void;
  onTurnEnded(key: string, status: string, runId?: string): void;
  /** A turn's tokens, for budgets and metrics: who asked (`platform:id`) and which assistant answered. */
  onUsage?(u: { key: string; who: string; assistant: string; inputTokens: number; outputTokens: number }): Promise<void>;
}

/**
 * Answering one conversation's turn: the backend's turn streamed into the reply, with stop,
 * timeout and a lost lock handled; a turn left from before (a crash, a shutdown, a stop the
 * backend could not carry out) finished and delivered, or reported; one log line and the
 * metrics for each turn.
 */
export class Answers {
  /** Turns answering in this process, by conversation: `stop` aborts them. */
  readonly active = new Map<string, AbortController>();

  constructor(private readonly deps: AnswersDeps) {}

  /** Runs the assistant on the turn's messages and delivers the reply to the last one's sink. */
  async answer(rec: ConversationRecord, m: Inbound, lock: HeldLock, authors: Array<{ id: string; name: string }> = [{ id: m.author.id, name: m.author.name }]): Promise<void> {
    const ac = new AbortController();
    this.active.set(rec.key, ac);
    const timeout = AbortSignal.timeout(this.deps.runTimeoutMs);
    const signal = AbortSignal.any([ac.signal, lock.lost, timeout]);
    const started = performance.now();
    let runId: string | undefined;
    let partial = '';
    // marked inside: only a sink that streams is `delivering` from its first text; one that does not
    // posts nothing before `finish`, so a crash mid-run leaves its answer to be delivered after the restart
    const sink = watchText(this.marked(rec, m.sink), (t) => (partial = t));
    try {
      const outcome = await this.execute(rec, (req) => this.deps.backend.turn(rec.state, req), sink, signal, m.author.id, {
        authors,
        additionalInstructions: m.context,
        onStarted: async (id) => {
          runId = id;
          await this.deps.conversations.startRun(rec, id, m.target);
          this.deps.onRunStarted(rec.key, id);
        },
      });
      await this.deliver(outcome, sink);
      this.observe(rec.key, 'completed', started, outcome);
      // ended when the sink said the answer was all out (the marked sink's `delivered`)
      await this.deps
        .onUsage?.({
          key: rec.key,
          who: `${m.target.platform}:${m.author.id}`,
          assistant: this.deps.backend.assistantOf?.(rec.state) ?? 'default',
          inputTokens: outcome.inputTokens ?? 0,
          outputTokens: outcome.outputTokens ?? 0,
        })
        .catch((err: unknown) => this.deps.log.warn({ err, conversation: rec.key }, 'could not count the turn against the budgets'));
    } catch (err) {
      const reason: unknown = ac.signal.aborted ? ac.signal.reason : timeout.aborted ? TIMED_OUT : lock.lost.aborted ? 'lock lost' : undefined;
      if (reason === SHUTDOWN) {
        // leave the turn for the next start, which finishes it and delivers the reply: it did not crash us
        rec.delivering = undefined;
        await this.deps.conversations.save(rec).catch((e: unknown) => this.deps.log.warn({ err: e, conversation: rec.key }, 'could not mark the reply safe to deliver'));
        this.deps.log.info({ conversation: rec.key, runId }, 'turn left for recovery at shutdown');
        return;
      }
      if (runId && reason) await this.stopOrAbandon(rec, runId);
      else if (reason) {
        // Stopped before the turn's id came back: the backend may have started it all the same.
        // Keep the turn and mark it abandoned, so the next turn finds it and waits it out.
        rec.abandoned = true;
        await this.deps.conversations.save(rec).catch((e: unknown) => this.deps.log.warn({ err: e, conversation: rec.key }, 'could not mark the stopped turn abandoned'));
      }
      this.observe(rec.key, reason === STOPPED ? 'stopped' : reason === TIMED_OUT ? 'timeout' : err instanceof TurnError ? err.code : 'error', started, { turnId: runId }, err);
      if (reason === STOPPED) await safely(() => sink.finish({ text: partial ? `${partial}\n\n_(stopped)_` : '_(stopped)_', images: [] }), this.deps.log);
      else if (reason === TIMED_OUT) await safely(() => sink.fail('That took too long, so I stopped it. Please try again.'), this.deps.log);
      else await safely(() => sink.fail(humanMessage(err)), this.deps.log);
      if (!rec.abandoned && (rec.activeRunId || rec.turn))
        await this.deps.conversations.endRun(rec).catch((e: unknown) => this.deps.log.warn({ err: e, conversation: rec.key }, 'could not end the turn in the store'));
    } finally {
      if (this.active.get(rec.key) === ac) this.active.delete(rec.key);
    }
  }

  /** Stops a turn we gave up on; when the backend cannot stop it, remembers it so the next turn waits it out. */
  private async stopOrAbandon(rec: ConversationRecord, runId: string): Promise<void> {
    const outcome = await this.deps.backend.stop(rec.state, runId).catch((e: unknown) => {
      // not known to be stopped: the next turn waits it out rather than overlap it
      this.deps.log.warn({ err: e, conversation: rec.key, runId }, 'could not stop the turn; it is waited out');
      return 'abandoned' as const;
    });
    if (outcome !== 'abandoned') return;
    rec.abandoned = true;
    await this.deps.conversations.save(rec).catch((e: unknown) => this.deps.log.warn({ err: e, conversation: rec.key }, 'could not mark the stopped turn abandoned'));
  }

  private execute(
    rec: ConversationRecord,
    start: (req: TurnRequest) => AsyncIterable<TurnEvent>,
    sink: ReplySink,
    signal: AbortSignal,
    userId: string | undefined,
    extra: { additionalInstructions?: string; authors?: Array<{ id: string; name: string }>; onStarted: (id: string) => Promise<void> },
  ): Promise<TurnOutcome> {
    return executeTurn(
      start,
      {
        sink,
        registry: this.deps.registry,
        log: this.deps.log,
        signal,
        conversationKey: rec.key,
        userId,
        authors: extra.authors,
        onStarted: extra.onStarted,
        onToolCall: (name, ok) => this.deps.metrics?.toolCalls.inc({ tool: name, outcome: ok ? 'ok' : 'error' }),
      },
      { functions: this.deps.registry.definitions(), additionalInstructions: extra.additionalInstructions, metadata: { conversation: rec.key.slice(0, 128) } },
    );
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
    // before the last part goes out: for a reply that streamed, a write of its own; otherwise the only mark
    const markFinishing = async () => {
      await marking;
      // where the reply is (the sink lets what it is sending land first): a restart can then complete it in place
      rec.placed = await out.place?.();
      rec.delivering ??= Date.now();
      rec.finishing = Date.now();
      await this.deps.conversations.save(rec);
    };
    out.watchPlace?.(async (place) => {
      rec.placed = place;
      // not kept: a restart then posts the reply again below what is out, as without a place
      await this.deps.conversations.save(rec).catch((err: unknown) => this.deps.log.warn({ err, conversation: rec.key }, 'could not keep where the reply is'));
    });
    // all out: the turn is over in the store (one write), and a restart from here finds nothing to post;
    // a stopped turn whose run was abandoned stays on record (the next turn waits that run out)
    let said: Promise<void> | undefined;
    const delivered = () =>
      (said ??= rec.abandoned
        ? (async () => {
            rec.delivered = Date.now();
            await this.deps.conversations.save(rec);
          })()
        : this.deps.conversations.endRun(rec));
    return overrideSink(out, {
      ...(out.text ? { text: async (t: string) => (await mark(), out.text!(t)) } : {}),
      finish: async (r) => {
        await markFinishing();
        await out.finish({ ...r, delivered });
        await delivered();
      },
    });
  }

  private async deliver(outcome: TurnOutcome, sink: ReplySink): Promise<void> {
    const reply = await attachImages(outcome.text, this.deps.images, (url, err) => this.deps.log.warn({ host: safeHost(url), reason: err.message }, 'image not attached'), outcome.images);
    // files the backend already holds go out beside the images, as they are (uploaded natively by the sink)
    for (const a of outcome.attachments)
      reply.images.push({ bytes: a.bytes, filename: a.name.replace(/[^\w.-]/g, '_').slice(0, 120) || 'file', contentType: a.contentType, alt: a.name.slice(0, 200), url: '' });
    try {
      await sink.finish(reply.text || reply.images.length ? { ...reply, turnId: outcome.turnId } : { text: '_(The assistant returned an empty answer.)_', images: [], turnId: outcome.turnId });
    } finally {
      this.deps.images.release(reply.images); // uploaded (or given up): the bytes may go
    }
  }

  /**
   * A turn is still marked in flight from before (a crash, a shutdown, a stop the backend could not
   * carry out): finish it and deliver its reply to the stored target, or say it was interrupted.
   */
  async settle(rec: ConversationRecord, lock: HeldLock): Promise<void> {
    const port = this.deps.platforms[rec.target.platform];
    if (rec.delivered && !rec.abandoned) {
      // the answer was all out when the last process stopped: nothing to post, nothing to apologise for
      // (an abandoned turn, stopped before its run had an id, still has a run to wait out below)
      this.deps.log.info({ conversation: rec.key, runId: rec.activeRunId }, 'the last answer was delivered before the process stopped');
      rec.abandoned = undefined;
      await this.deps.conversations.endRun(rec);
      return;
    }
    // Died while posting it, where the sink said where the reply is: completed in place, once (the
    // whole answer in the messages it was going out in). Without a place: died while streaming it,
    // the answer is posted again below, once; died while posting its last part (which may have
    // landed: posting again could double it), never posted again and the person is told. Died
    // again while completing or re-posting it (perhaps of it, issue 19): never again, told.
    const interrupted = !!rec.delivering && !rec.abandoned;
    // Where the reply is: kept through a graceful stop too (which clears `delivering`: the reply did
    // not crash us), so a reply left half out at a deploy is completed in its messages, not posted
    // again below them. Not after a restart fell back to posting it again below.
    const place = rec.redelivering ? undefined : rec.placed;
    const inPlace = interrupted && !!place;
    const poisoned = interrupted && (!!rec.redelivering || (!!rec.finishing && !inPlace));
    if (place && !interrupted && !rec.abandoned) this.deps.log.info({ conversation: rec.key, runId: rec.activeRunId }, 'completing in place a reply the last process left at shutdown');
    if (interrupted && !poisoned) {
      rec.redelivering = Date.now();
      await this.deps.conversations.save(rec);
      this.deps.log.warn(
        { conversation: rec.key, runId: rec.activeRunId, since: rec.delivering },
        inPlace ? 'completing in place a reply the last process stopped while posting' : 'posting again a reply the last process stopped while posting',
      );
    }
    const sink = rec.abandoned || poisoned ? undefined : port?.sinkFor(rec.target, place);
    const inFlight = { turnId: rec.activeRunId, startedAt: rec.turn?.startedAt ?? rec.lastActivity };
    if (poisoned) {
      // The last process died while posting this reply, perhaps because of it: never post it again.
      this.deps.log.error({ conversation: rec.key, runId: rec.activeRunId, since: rec.delivering }, 'reply dropped: the process stopped while posting it');
      this.deps.metrics?.runs.inc({ status: 'dropped' });
      const told = port?.sinkFor(rec.target);
      // status first: a sink only clears progress (the 👀 the dead process left) that it knows about
      if (told) await safely(async () => (await told.status?.({ kind: 'thinking' }), await told.fail(INTERRUPTED_DELIVERY)), this.deps.log);
    }
    const signal = AbortSignal.any([lock.lost, AbortSignal.timeout(this.deps.runTimeoutMs)]);
    const started = performance.now();
    if (!sink) {
      // Nobody waits for this turn's answer: stop it, or where it cannot be stopped, wait it out.
      if (rec.activeRunId || rec.turn)
        await this.deps.backend.waitOut(rec.state, inFlight).catch((e: unknown) => this.deps.log.warn({ err: e, conversation: rec.key }, 'could not wait out the turn left in flight'));
    } else {
      try {
        const marked = this.marked(rec, sink);
        const outcome = await this.execute(rec, (req) => this.deps.backend.resume(rec.state, inFlight, req), marked, signal, undefined, {
          onStarted: async (id) => {
            if (!rec.activeRunId) await this.deps.conversations.startRun(rec, id, rec.target);
          },
        });
        await this.deliver(outcome, marked);
        this.observe(rec.key, 'recovered', started, outcome);
      } catch (err) {
        this.observe(rec.key, 'interrupted', started, { turnId: rec.activeRunId }, err);
        await safely(() => sink.fail('I was interrupted while answering your last message. Please ask again.'), this.deps.log);
      }
    }
    // a delivered reply ended the turn already (the marked sink's `delivered`)
    if (rec.abandoned || rec.activeRunId || rec.turn) {
      rec.abandoned = undefined;
      await this.deps.conversations.endRun(rec);
    }
  }

  private observe(key: string, status: string, started: number, o: Partial<TurnOutcome>, err?: unknown): void {
    const ms = Math.round(performance.now() - started);
    this.deps.onTurnEnded(key, status, o.turnId);
    this.deps.metrics?.runs.inc({ status });
    this.deps.metrics?.runDuration.observe(ms / 1000);
    if (o.firstTextMs !== undefined) this.deps.metrics?.firstText.observe(o.firstTextMs / 1000);
    const line = {
      conversation: key,
      backend: this.deps.backend.name,
      runId: o.turnId,
      requestId: o.requestId,
      status,
      ms,
      firstTextMs: o.firstTextMs && Math.round(o.firstTextMs),
      toolCalls: o.toolCalls,
      inputTokens: o.inputTokens,
      outputTokens: o.outputTokens,
      err,
    };
    const refused = refusedToolLine(err);
    if (refused) this.deps.log.error({ conversation: key, ...refused }, 'DashScope refused a tool');
    if (err && status !== 'stopped') this.deps.log.warn(line, 'turn');
    else this.deps.log.info(line, 'turn');
  }
}
