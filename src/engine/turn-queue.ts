import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { HeldLock, Store } from '../store/index.js';
import type { ConversationRecord, Conversations } from './conversations.js';
import type { Inbound, ReplySink } from './types.js';
import type { Pace } from './pace.js';
import { ReadyRing } from './ready-ring.js';

/** An inbound message as kept in the store's per-conversation queue (everything but the sink). */
type Queued = Omit<Inbound, 'sink'>;

export interface TurnQueueDeps {
  store: Store;
  conversations: Conversations;
  log: Logger;
  metrics?: Metrics;
  lockTtlMs: number;
  lockWaitMs: number;
  /** A sink for a message another instance received (built from its target). */
  sinkFor: (q: Queued) => ReplySink;
  /**
   * Answers one batch under the conversation's lock; calls `dropQueued` once the batch is safe
   * elsewhere. True when the conversation has no turn left for a restart to settle.
   */
  onBatch: (key: string, batch: Inbound[], lock: HeldLock, dropQueued: () => Promise<void>) => Promise<boolean>;
  /** Tells each queued message that it could not be answered. */
  onLockFailure: (batch: Inbound[], err: unknown) => Promise<void>;
  /** How many turns may run here at once (TURN_CONCURRENCY, adapted to DashScope's pace). */
  pace: Pace;
  /** Conversations waiting for a slot before a warning is logged (BACKLOG_WARN). */
  backlogWarn?: number;
}

/**
 * The queue of messages waiting for their conversation's turn. It lives in the store, shared by
 * every instance: whoever takes the conversation's lock answers everything queued so far, in the
 * order it arrived, so one conversation never has two runs and its messages are answered in order
 * across instances. A conversation with queued messages (or a turn going on) is marked in flight,
 * so a restarted process (or another instance, see `adopt`) looks at it again.
 *
 * At most `pace.limit` conversations have a turn going on here at once (TURN_CONCURRENCY, lowered
 * while DashScope throttles); the others wait in a ReadyRing (their keys only: the messages stay
 * in the store), taken round robin across channels. After each batch a conversation goes to the
 * back of the ring, so a busy one cannot hold a slot while others wait.
 */
export class TurnQueue {
  /** Sinks of queued messages this instance received, with when (another instance may answer them: old ones are let go). */
  private readonly localSinks = new Map<string, { sink: ReplySink; at: number }>();
  /** Conversations with a turn left by a previous process to settle. */
  private readonly resumes = new Set<string>();
  /** Conversations looked at for another instance: take their lock only if it is free now. */
  private readonly tryOnly = new Set<string>();
  private readonly workers = new Map<string, Promise<void>>();
  /** Conversations with something queued since their worker last looked (so it must look again), with who queued it last. */
  private readonly wakeups = new Map<string, string>();
  private readonly ready = new ReadyRing();
  /** Conversations this instance queued a message for since their last look. */
  private readonly pushed = new Set<string>();
  private paused = false;
  private pushes = 0;
  private backlogWarned = false;

  constructor(private readonly deps: TurnQueueDeps) {}

  private name(key: string): string {
    return `turns:${key}`;
  }

  /** `settle`: the event's claim, marked taken care of in the same store step as the queue entry. */
  async push(m: Inbound, settle?: { key: string; ttlMs: number }): Promise<void> {
    const { sink, ...queued } = m;
    // Behind a backlog, a message keeps no sink here: its turn builds one from its stored target
    // (as another instance would), so memory does not grow with the backlog.
    const backlogged = this.ready.size >= this.deps.pace.limit;
    if (!backlogged) this.localSinks.set(m.eventId, { sink, at: Date.now() });
    if (++this.pushes % 256 === 0) this.forgetOldSinks();
    try {
      // one step: queued, marked in flight (a restart looks at it) and, for an event, taken care of (an intake replay drops it)
      await this.deps.store.listPush(this.name(m.key), [JSON.stringify(queued satisfies Queued)], { setAdd: this.deps.conversations.inFlightMark(m.key), settle });
    } catch (err) {
      this.localSinks.delete(m.eventId);
      throw err;
    }
    if (!backlogged) this.deps.metrics?.queueDepth.inc();
    this.pushed.add(m.key);
    this.wake(m.key, m.author.id);
    // no free slot: the person sees their message taken and in line, not silence until one frees
    if (this.ready.has(m.key)) void sink.waiting?.().catch((err: unknown) => this.deps.log.debug({ err, conversation: m.key }, 'could not show a waiting message as taken'));
  }

  /**
   * Makes a worker here look at the conversation (after a restart: settle what was left). With
   * `ifFree`, only when no one holds its lock now: work another instance left (it died) or queued
   * and has not started (a shared backlog), never a turn someone is running.
   */
  resume(key: string, opts: { ifFree?: boolean } = {}): void {
    if (this.workers.has(key) || this.ready.has(key)) return;
    this.resumes.add(key);
    if (opts.ifFree) this.tryOnly.add(key);
    this.wake(key);
  }

  length(key: string): Promise<number> {
    return this.deps.store.listLength(this.name(key));
  }

  /** `person`: who is waiting (the ring is fair across people within a channel); '' when unknown (a resume). */
  private wake(key: string, person = ''): void {
    this.wakeups.set(key, person || this.wakeups.get(key) || '');
    // a worker that is running looks again when it is done (and goes to the back of the ring)
    if (this.workers.has(key)) return;
    this.ready.add(key, person);
    this.pump();
  }

  /** Starts waiting conversations while there are free slots. */
  private pump(): void {
    while (!this.paused && this.workers.size < this.deps.pace.limit) {
      const next = this.ready.take();
      if (!next) break;
      if (this.workers.has(next.key)) continue;
      this.deps.metrics?.turnWait.observe((Date.now() - next.since) / 1000);
      const { key, person } = next;
      const worker: Promise<void> = this.once(key).finally(() => {
        if (this.workers.get(key) === worker) this.workers.delete(key);
        // more came meanwhile: back of the ring, under whoever asked last (a resumed conversation settles first); stopping, it stays in the store for the next start
        if (!this.paused && (this.wakeups.has(key) || this.resumes.has(key))) this.ready.add(key, this.wakeups.get(key) || person);
        this.pump();
      });
      this.workers.set(key, worker);
    }
    this.watchBacklog();
  }

  /** One look at a conversation: settle what is left, or answer one batch of what is queued. */
  private async once(key: string): Promise<void> {
    const { store, log } = this.deps;
    this.wakeups.delete(key);
    const ifFree = this.tryOnly.delete(key);
    let pending: number;
    try {
      // pushed here since the last look: there is something queued, no need to ask the store
      pending = this.pushed.delete(key) ? 1 : await store.listLength(this.name(key));
    } catch (err) {
      log.warn({ err, conversation: key }, 'could not read the conversation queue');
      return;
    }
    if (pending === 0 && !this.resumes.has(key)) {
      await this.leaveInFlight(key);
      return;
    }
    let lock: HeldLock;
    try {
      lock = await store.lock(`conversation:${key}`, { ttlMs: this.deps.lockTtlMs, waitMs: ifFree ? 0 : this.deps.lockWaitMs });
    } catch (err) {
      if (ifFree) {
        // someone is on it: theirs to finish
        this.resumes.delete(key);
        return;
      }
      log.warn({ err, conversation: key }, 'could not take the conversation lock');
      const raw = await store.listRange(this.name(key), 0, -1).catch((e: unknown) => {
        // they stay queued and marked in flight: the next start answers them
        log.warn({ err: e, conversation: key }, 'could not read the queued messages to tell them');
        return [] as string[];
      });
      await this.deps.onLockFailure(
        raw.map((r) => this.revive(r)).filter((m) => m !== undefined),
        err,
      );
      await store
        .listDropFront(this.name(key), raw.length)
        .catch((e: unknown) => log.warn({ err: e, conversation: key }, 'could not drop the messages told of the failure: a restart may answer them'));
      return;
    }
    try {
      this.resumes.delete(key);
      const raw = await store.listRange(this.name(key), 0, -1);
      let dropped = false;
      const drop = async () => {
        if (dropped) return;
        dropped = true;
        await store.listDropFront(this.name(key), raw.length);
      };
      let settled = false;
      try {
        settled = await this.deps.onBatch(
          key,
          raw.map((r) => this.revive(r)).filter((m) => m !== undefined),
          lock,
          drop,
        );
      } finally {
        // the batch was handled (answered, or told it failed): it leaves the queue either way
        await drop().catch((e: unknown) => log.error({ err: e, conversation: key }, 'could not take the answered messages off the queue: a restart may answer them again'));
      }
      // Nothing came while it ran and the turn is over: the in-flight mark goes now, in one step with
      // the look at the queue (still under the lock). Otherwise look again on a later pass (the
      // worker's finally puts it back in the ring).
      if (!this.wakeups.has(key) && !(settled && (await this.forgetIfDone(key)))) this.wakeups.set(key, '');
    } catch (err) {
      log.error({ err, conversation: key }, 'turn crashed');
    } finally {
      await lock.release();
    }
  }

  /** A log line when the backlog crosses BACKLOG_WARN, and one when it is back under half. */
  private watchBacklog(): void {
    const waiting = this.ready.size;
    const threshold = this.deps.backlogWarn ?? 100;
    if (!this.backlogWarned && waiting >= threshold) {
      this.backlogWarned = true;
      this.deps.log.warn({ waiting, running: this.workers.size, limit: this.deps.pace.limit, oldestWaitSeconds: this.oldestWaitSeconds() }, 'turn backlog: conversations are waiting for a free slot');
    } else if (this.backlogWarned && waiting < threshold / 2) {
      this.backlogWarned = false;
      this.deps.log.info({ waiting, running: this.workers.size, limit: this.deps.pace.limit }, 'turn backlog cleared');
    }
  }

  /**
   * Takes on work no instance is doing (a shared backlog on Redis): conversations marked in
   * flight whose lock is free, whether another instance queued them and has no slot yet, or died
   * with them (its lock expired). Looks at as many as this instance has free slots (a random
   * sample, so instances sweeping at once spread over the backlog); returns how many.
   */
  async adopt(serves: (platform: string) => boolean, opts: { all?: boolean } = {}): Promise<number> {
    // `all` (at startup): every conversation left in flight, each waiting for its lock if need be
    const free = opts.all ? Infinity : this.deps.pace.limit - this.workers.size - this.ready.size;
    if (free <= 0 || this.paused) return 0;
    const keys = await this.deps.conversations.inFlight();
    for (let i = keys.length - 1; i > 0 && !opts.all; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [keys[i], keys[j]] = [keys[j], keys[i]];
    }
    let n = 0;
    for (const key of opts.all ? keys : keys.slice(0, free * 2)) {
      const rec = await this.deps.conversations.get(key);
      if (rec && !serves(rec.target.platform)) continue; // another instance serves that platform
      this.resume(key, { ifFree: !opts.all });
      n++;
    }
    return n;
  }

  /** Stops starting turns (a stop in progress): those running finish, the rest stay queued in the store. */
  pause(): void {
    this.paused = true;
  }

  /** Seconds the longest-waiting conversation has waited for a slot (0 when none waits). */
  oldestWaitSeconds(now = Date.now()): number {
    const oldest = this.ready.oldest();
    return oldest === undefined ? 0 : (now - oldest) / 1000;
  }

  /** Conversations waiting for a slot here. */
  get waiting(): number {
    return this.ready.size;
  }

  /** Sinks kept for messages another instance answered (a shared backlog) would stay forever: drop those older than a turn can wait. */
  private forgetOldSinks(): void {
    const before = Date.now() - this.deps.lockWaitMs - 60_000;
    for (const [id, s] of this.localSinks) {
      if (s.at >= before) break; // in arrival order
      this.localSinks.delete(id);
      this.deps.metrics?.queueDepth.dec();
    }
  }

  /** True when nothing is queued for the conversation, which then leaves the in-flight set; false (look again) when something is, or the store did not answer. */
  private async forgetIfDone(key: string): Promise<boolean> {
    try {
      return (await this.deps.store.setRemoveIfListEmpty(this.name(key), this.deps.conversations.inFlightMark(key))) === 0;
    } catch (err) {
      this.deps.log.debug({ err, conversation: key }, 'could not clear the in-flight mark');
      return false;
    }
  }

  /** Nothing queued and no turn left: a restart need not look at this conversation any more. */
  private async leaveInFlight(key: string): Promise<void> {
    let rec: ConversationRecord | undefined;
    try {
      rec = await this.deps.conversations.get(key);
    } catch (err) {
      // the mark stays; a restart only finds nothing to do
      this.deps.log.debug({ err, conversation: key }, 'could not read the record to clear the in-flight mark');
      return;
    }
    // the mark goes in one step with the look at the queue: a message another instance queued meanwhile keeps it
    if (!rec?.activeRunId && !rec?.turn) await this.forgetIfDone(key);
  }

  /** A queued message as the engine takes it; one that is corrupt is logged and left out of the batch. */
  private revive(raw: string): Inbound | undefined {
    let q: Queued;
    try {
      q = JSON.parse(raw) as Queued;
    } catch {
      q = undefined as unknown as Queued;
    }
    if (
      !q ||
      typeof q !== 'object' ||
      typeof q.eventId !== 'string' ||
      typeof q.key !== 'string' ||
      typeof q.text !== 'string' ||
      typeof q.target !== 'object' ||
      q.target === null ||
      typeof q.author !== 'object' ||
      q.author === null
    ) {
      this.deps.log.warn({ bytes: raw.length }, 'a queued message is not valid: left out');
      return undefined;
    }
    const local = this.localSinks.get(q.eventId);
    if (local) {
      this.localSinks.delete(q.eventId);
      this.deps.metrics?.queueDepth.dec();
    }
    return { ...q, sink: local?.sink ?? this.deps.sinkFor(q) };
  }

  /** Resolves when no turn runs here and none waits for a slot (paused: none runs). */
  async idle(): Promise<void> {
    for (;;) {
      if (this.workers.size > 0) await Promise.allSettled([...this.workers.values()]);
      else if (this.ready.size > 0 && !this.paused) {
        this.pump();
        if (this.workers.size === 0) return; // nothing could start (cannot happen with a limit of at least 1)
      } else return;
    }
  }

  /** Turns running here now. */
  get busy(): number {
    return this.workers.size;
  }
}
