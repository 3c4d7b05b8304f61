import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { HeldLock, Store } from '../store/index.js';
import type { Conversations } from './conversations.js';
import type { Inbound, ReplySink } from './types.js';

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
  /** Answers one batch under the conversation's lock; calls `dropQueued` once the batch is safe elsewhere. */
  onBatch: (key: string, batch: Inbound[], lock: HeldLock, dropQueued: () => Promise<void>) => Promise<void>;
  /** Tells each queued message that it could not be answered. */
  onLockFailure: (batch: Inbound[], err: unknown) => Promise<void>;
}

/**
 * The queue of messages waiting for their conversation's turn. It lives in the store, shared by
 * every instance: whoever takes the conversation's lock answers everything queued so far, in the
 * order it arrived, so one conversation never has two runs and its messages are answered in order
 * across instances. A conversation with queued messages (or a turn going on) is marked in flight,
 * so a restarted process looks at it again.
 */
export class TurnQueue {
  /** Sinks of queued messages this instance received. */
  private readonly localSinks = new Map<string, ReplySink>();
  /** Conversations with a turn left by a previous process to settle. */
  private readonly resumes = new Set<string>();
  private readonly workers = new Map<string, Promise<void>>();
  /** Conversations with something queued since their worker last looked (so it must look again). */
  private readonly wakeups = new Set<string>();

  constructor(private readonly deps: TurnQueueDeps) {}

  private name(key: string): string {
    return `turns:${key}`;
  }

  async push(m: Inbound): Promise<void> {
    const { sink, ...queued } = m;
    this.localSinks.set(m.eventId, sink);
    try {
      await this.deps.conversations.markInFlight(m.key);
      await this.deps.store.listPush(this.name(m.key), [JSON.stringify(queued satisfies Queued)]);
    } catch (err) {
      this.localSinks.delete(m.eventId);
      throw err;
    }
    this.deps.metrics?.queueDepth.inc();
    this.wake(m.key);
  }

  /** Makes a worker here look at the conversation (after a restart: settle what was left). */
  resume(key: string): void {
    this.resumes.add(key);
    this.wake(key);
  }

  length(key: string): Promise<number> {
    return this.deps.store.listLength(this.name(key));
  }

  private wake(key: string): void {
    this.wakeups.add(key);
    if (this.workers.has(key)) return;
    const worker: Promise<void> = this.work(key).finally(() => {
      if (this.workers.get(key) === worker) this.workers.delete(key);
    });
    this.workers.set(key, worker);
  }

  private async work(key: string): Promise<void> {
    const { store, log } = this.deps;
    for (;;) {
      this.wakeups.delete(key);
      let pending: number;
      try {
        pending = await store.listLength(this.name(key));
      } catch (err) {
        log.warn({ err, conversation: key }, 'could not read the conversation queue');
        this.workers.delete(key);
        return;
      }
      if (pending === 0 && !this.resumes.has(key)) {
        await this.leaveInFlight(key);
        // Something may have been queued while we looked: look again rather than strand it.
        if (this.wakeups.has(key)) continue;
        // Leave the map now (synchronously), so the next push starts a new worker.
        this.workers.delete(key);
        return;
      }
      let lock: HeldLock;
      try {
        lock = await store.lock(`conversation:${key}`, { ttlMs: this.deps.lockTtlMs, waitMs: this.deps.lockWaitMs });
      } catch (err) {
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
        continue;
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
        try {
          await this.deps.onBatch(
            key,
            raw.map((r) => this.revive(r)).filter((m) => m !== undefined),
            lock,
            drop,
          );
        } finally {
          // the batch was handled (answered, or told it failed): it leaves the queue either way
          await drop().catch((e: unknown) => log.error({ err: e, conversation: key }, 'could not take the answered messages off the queue: a restart may answer them again'));
        }
      } catch (err) {
        log.error({ err, conversation: key }, 'turn crashed');
      } finally {
        await lock.release();
      }
    }
  }

  /** Nothing queued and no turn left: a restart need not look at this conversation any more. */
  private async leaveInFlight(key: string): Promise<void> {
    try {
      const rec = await this.deps.conversations.get(key);
      if (rec?.activeRunId || rec?.turn) return;
      await this.deps.conversations.forgetInFlight(key);
      // another instance may have queued a message meanwhile: keep the mark then
      if ((await this.deps.store.listLength(this.name(key))) > 0) await this.deps.conversations.markInFlight(key);
    } catch (err) {
      // the mark stays; a restart only finds nothing to do
      this.deps.log.debug({ err, conversation: key }, 'could not clear the in-flight mark');
    }
  }

  /** A queued message with its sink: the original when it came to this instance, else one for its target. */
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
    return { ...q, sink: local ?? this.deps.sinkFor(q) };
  }

  /** Resolves when no worker here is running. */
  async idle(): Promise<void> {
    while (this.workers.size > 0) await Promise.allSettled([...this.workers.values()]);
  }

  get busy(): number {
    return this.workers.size;
  }
}
