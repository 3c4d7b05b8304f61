/**
 * What Threadline keeps: records (conversations, meetings), event ids seen (dedupe), locks that
 * keep one run per Assistant thread, small sets (in-flight runs, active meetings), lists
 * (the turn and meeting capture queues) and hit counters (the per-person rate limit). Redis when several instances share work; an embedded file store
 * for one instance; memory in unit tests.
 */
export interface Store {
  readonly kind: 'redis' | 'file' | 'memory';
  get<T>(key: string): Promise<T | undefined>;
  /** `ttlMs` omitted = keep until deleted. */
  set<T>(key: string, value: T, ttlMs?: number): Promise<void>;
  delete(key: string): Promise<void>;
  /** Atomic set-if-absent with a TTL: true when this caller was first (dedupe). */
  claim(key: string, ttlMs: number): Promise<boolean>;
  /**
   * Marks a claim as taken care of, keeping it for as long as it had (the embedded store gives it
   * `ttlMs` again); nothing when `key` was never claimed or its claim expired.
   */
  settle(key: string, ttlMs: number): Promise<void>;
  /** Whether `key` was claimed, and whether it was settled since. */
  claimState(key: string): Promise<'none' | 'claimed' | 'settled'>;
  /**
   * Counts one hit on `key` and returns the hits in the last `windowMs`, this one included: a
   * sliding window estimated from two fixed ones (the previous window weighted by how much of it
   * still overlaps). Shared by every instance on Redis.
   */
  hit(key: string, windowMs: number, now?: number): Promise<number>;
  /**
   * Adds `n` to the counter `key` (created at 0 with `ttlMs` to live) and returns its new value;
   * `n` = 0 reads it. Shared by every instance on Redis (token budgets).
   */
  count(key: string, n: number, ttlMs: number): Promise<number>;
  /** Waits for the lock on `name` (renewed while held); throws LockTimeoutError past `waitMs`. */
  lock(name: string, opts?: LockOptions): Promise<HeldLock>;
  setAdd(name: string, member: string): Promise<void>;
  setRemove(name: string, member: string): Promise<void>;
  setMembers(name: string): Promise<string[]>;
  /**
   * Appends to a list; returns the new length. `with` is done in the same step: a set member
   * added, a claim settled. On Redis one MULTI, so a crash leaves all of it or none (a queued
   * message whose event still looks unhandled would be queued again by an intake replay).
   */
  listPush(name: string, items: string[], with_?: PushAlso): Promise<number>;
  /** Items from `start` to `stop` inclusive (negative = from the end), like LRANGE. */
  listRange(name: string, start: number, stop: number): Promise<string[]>;
  /** Drops the first `count` items. */
  listDropFront(name: string, count: number): Promise<void>;
  listLength(name: string): Promise<number>;
  /**
   * Takes `member` out of the set `from` if the list `name` is empty, in one step (on Redis one
   * script: a push by another instance, which adds the member back with its entry, is never lost
   * between the look and the removal). Returns the list's length (0: the member went).
   */
  setRemoveIfListEmpty(name: string, from: { name: string; member: string }): Promise<number>;
  /** Tells every instance on this store (this one too) `message` on `channel`: best effort, nothing is kept. */
  publish(channel: string, message: string): Promise<void>;
  /** Calls `handler` for every message published on `channel` from now on; resolves once listening. */
  subscribe(channel: string, handler: (message: string) => void): Promise<void>;
  /** True when the store answers right now. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** What `listPush` does in the same step. */
export interface PushAlso {
  setAdd?: { name: string; member: string };
  settle?: { key: string; ttlMs: number };
}

export interface LockOptions {
  /** How long the lock lives without renewal (default 30 s); it is renewed every third of that. */
  ttlMs?: number;
  /** How long to wait for it (default 15 min: a queued turn waits for the run before it). */
  waitMs?: number;
  signal?: AbortSignal;
}

export interface HeldLock {
  /** Fires when the lock was lost (renewal found someone else's token or the key gone). */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';
  constructor(readonly lockName: string) {
    super(`timed out waiting for lock ${lockName}`);
  }
}

export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/** Runs `fn` while holding the lock, releasing it in `finally`. */
export async function withLock<T>(store: Store, name: string, fn: (lock: HeldLock) => Promise<T>, opts?: LockOptions): Promise<T> {
  const held = await store.lock(name, opts);
  try {
    return await fn(held);
  } finally {
    await held.release();
  }
}

/** The window a time falls in, how far into it, and the sliding-window estimate from two counts. */
export function slidingWindow(windowMs: number, now: number): { index: number; estimate: (current: number, previous: number) => number } {
  const index = Math.floor(now / windowMs);
  const overlap = 1 - (now - index * windowMs) / windowMs;
  return { index, estimate: (current, previous) => current + Math.floor(previous * overlap) };
}
