import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Keyv } from 'keyv';
import { JournalFile } from './journal-file.js';
import { KeyedMutex } from './mutex.js';
import { LockTimeoutError, slidingWindow, type HeldLock, type LockOptions, type PushAlso, type Store } from './store.js';

/**
 * One-instance store: Keyv over an embedded journal file (survives restarts; see JournalFile) or
 * memory. Atomicity comes from an in-process mutex, which is exact for a single process.
 */
export class LocalStore implements Store {
  readonly kind: 'file' | 'memory';
  private readonly kv: Keyv;
  private readonly mutex = new KeyedMutex();
  private readonly locks = new KeyedMutex();

  /** The journal behind the file store (tests and the benchmark read its size). */
  readonly journal?: JournalFile;

  /**
   * `file`: the journal (`threadline.jsonl`); `legacyFile`: keyv-file's `threadline.json` of earlier
   * releases, imported once when the journal does not exist yet.
   */
  constructor(opts: { file?: string; legacyFile?: string; compactBytes?: number; onError?: (err: Error) => void } = {}) {
    if (opts.file) {
      mkdirSync(dirname(opts.file), { recursive: true });
      this.journal = new JournalFile({ filename: opts.file, legacyFile: opts.legacyFile, compactBytes: opts.compactBytes, onError: opts.onError });
      // throwOnErrors: a write that did not reach the file fails its caller instead of vanishing
      this.kv = new Keyv({ store: this.journal, namespace: 'threadline', throwOnErrors: true });
      this.kind = 'file';
    } else {
      this.kv = new Keyv({ namespace: 'threadline' });
      this.kind = 'memory';
    }
  }

  async get<T>(key: string): Promise<T | undefined> {
    return (await this.kv.get<T>(key)) ?? undefined;
  }

  /** Resolves once the change is in the file (file store); rejects when it could not be written. */
  async set<T>(key: string, value: T, ttlMs?: number): Promise<void> {
    await this.kv.set(key, value, ttlMs);
  }

  async delete(key: string): Promise<void> {
    await this.kv.delete(key);
  }

  claim(key: string, ttlMs: number): Promise<boolean> {
    return this.mutex.run(`claim:${key}`, async () => {
      if ((await this.get(`claim:${key}`)) !== undefined) return false;
      await this.set(`claim:${key}`, 1, ttlMs);
      return true;
    });
  }

  settle(key: string, ttlMs: number): Promise<void> {
    return this.mutex.run(`claim:${key}`, async () => {
      if ((await this.get(`claim:${key}`)) !== undefined) await this.set(`claim:${key}`, 2, ttlMs);
    });
  }

  async claimState(key: string): Promise<'none' | 'claimed' | 'settled'> {
    const v = await this.get(`claim:${key}`);
    return v === undefined ? 'none' : v === 2 ? 'settled' : 'claimed';
  }

  hit(key: string, windowMs: number, now = Date.now()): Promise<number> {
    const w = slidingWindow(windowMs, now);
    const current = `hits:${key}:${w.index}`;
    return this.mutex.run(current, async () => {
      const count = ((await this.get<number>(current)) ?? 0) + 1;
      await this.set(current, count, 2 * windowMs);
      return w.estimate(count, (await this.get<number>(`hits:${key}:${w.index - 1}`)) ?? 0);
    });
  }

  count(key: string, n: number, ttlMs: number): Promise<number> {
    const name = `count:${key}`;
    return this.mutex.run(name, async () => {
      const current = await this.kv.get<{ v: number; until: number }>(name);
      const fresh = !current || current.until <= Date.now();
      const next = { v: (fresh ? 0 : current.v) + Math.round(n), until: fresh ? Date.now() + ttlMs : current.until };
      if (n !== 0 || fresh) await this.kv.set(name, next, Math.max(1, next.until - Date.now()));
      return next.v;
    });
  }

  async lock(name: string, opts: LockOptions = {}): Promise<HeldLock> {
    const release = await this.locks.acquireWithin(name, opts.waitMs ?? 15 * 60_000, () => new LockTimeoutError(name), opts.signal);
    return { lost: new AbortController().signal, release: async () => release() };
  }

  private async mutate<T>(name: string, fn: (current: T | undefined) => T): Promise<T> {
    return this.mutex.run(name, async () => {
      const next = fn(await this.get<T>(name));
      await this.set(name, next);
      return next;
    });
  }

  async setAdd(name: string, member: string): Promise<void> {
    await this.mutate<string[]>(`set:${name}`, (cur) => (cur?.includes(member) ? cur : [...(cur ?? []), member]));
  }

  async setRemove(name: string, member: string): Promise<void> {
    await this.mutate<string[]>(`set:${name}`, (cur) => (cur ?? []).filter((m) => m !== member));
  }

  async setMembers(name: string): Promise<string[]> {
    return (await this.get<string[]>(`set:${name}`)) ?? [];
  }

  /**
   * Not a transaction here: the three writes are started together, so on the file store they
   * usually share one journal write, but a crash between two journal batches could keep the queue
   * entry without the settled claim (an intake replay would then queue that message again).
   */
  async listPush(name: string, items: string[], with_: PushAlso = {}): Promise<number> {
    const [, list] = await Promise.all([
      with_.setAdd ? this.setAdd(with_.setAdd.name, with_.setAdd.member) : undefined,
      this.mutate<string[]>(`list:${name}`, (cur) => [...(cur ?? []), ...items]),
      with_.settle ? this.settle(with_.settle.key, with_.settle.ttlMs) : undefined,
    ]);
    return list.length;
  }

  async listRange(name: string, start: number, stop: number): Promise<string[]> {
    const list = (await this.get<string[]>(`list:${name}`)) ?? [];
    const s = start < 0 ? Math.max(0, list.length + start) : start;
    const e = stop < 0 ? list.length + stop : stop;
    return list.slice(s, e + 1);
  }

  async listDropFront(name: string, count: number): Promise<void> {
    await this.mutate<string[]>(`list:${name}`, (cur) => (cur ?? []).slice(count));
  }

  async listLength(name: string): Promise<number> {
    return ((await this.get<string[]>(`list:${name}`)) ?? []).length;
  }

  async setRemoveIfListEmpty(name: string, from: { name: string; member: string }): Promise<number> {
    const queued = await this.listLength(name);
    if (queued > 0) return queued;
    await this.setRemove(from.name, from.member);
    // one process, but its writes interleave: a push that came meanwhile puts the member back
    const n = await this.listLength(name);
    if (n > 0) await this.setAdd(from.name, from.member);
    return n;
  }

  async ping(): Promise<boolean> {
    return true;
  }

  private readonly channels = new EventEmitter();

  async publish(channel: string, message: string): Promise<void> {
    // one process: the subscribers are here (asynchronously, as a message over Redis would arrive)
    queueMicrotask(() => this.channels.emit(channel, message));
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    this.channels.on(channel, handler);
  }

  async close(): Promise<void> {
    this.channels.removeAllListeners();
    await this.kv.disconnect();
  }
}
