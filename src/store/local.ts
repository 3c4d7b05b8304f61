import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Keyv } from 'keyv';
import { KeyvFile } from 'keyv-file';
import { KeyedMutex } from './mutex.js';
import { LockTimeoutError, slidingWindow, type HeldLock, type LockOptions, type Store } from './store.js';

/**
 * One-instance store: Keyv over an embedded JSON file (keyv-file, survives restarts) or memory.
 * Atomicity comes from an in-process mutex, which is exact for a single process.
 */
export class LocalStore implements Store {
  readonly kind: 'file' | 'memory';
  private readonly kv: Keyv;
  private readonly mutex = new KeyedMutex();
  private readonly locks = new KeyedMutex();

  constructor(opts: { file?: string } = {}) {
    if (opts.file) {
      mkdirSync(dirname(opts.file), { recursive: true });
      // A short write delay coalesces bursts; an awaited set resolves once the file is written.
      this.kv = new Keyv({ store: new KeyvFile({ filename: opts.file, writeDelay: 10, expiredCheckDelay: 60_000 }), namespace: 'threadline' });
      this.kind = 'file';
    } else {
      this.kv = new Keyv({ namespace: 'threadline' });
      this.kind = 'memory';
    }
  }

  async get<T>(key: string): Promise<T | undefined> {
    const pending = this.pending.get(key);
    if (pending) return pending.expires !== undefined && pending.expires <= Date.now() ? undefined : (pending.value as T | undefined);
    return (await this.kv.get<T>(key)) ?? undefined;
  }

  async set<T>(key: string, value: T, ttlMs?: number): Promise<void> {
    await this.write(key, value, ttlMs === undefined ? undefined : Date.now() + ttlMs, () => this.kv.set(key, value, ttlMs));
  }

  async delete(key: string): Promise<void> {
    await this.write(key, undefined, undefined, () => this.kv.delete(key));
  }

  /**
   * keyv-file keeps the data in memory and writes the whole file `writeDelay` after a change;
   * waiting for that write would hold every turn for it. So a file-backed write returns at once:
   * the value is served from `pending` until the file has it, and close() waits for the last write.
   */
  private readonly pending = new Map<string, { value: unknown; expires?: number }>();
  private readonly writes = new Set<Promise<unknown>>();

  private async write(key: string, value: unknown, expires: number | undefined, op: () => Promise<unknown>): Promise<void> {
    if (this.kind === 'memory') {
      await op();
      return;
    }
    const entry = { value, expires };
    this.pending.set(key, entry);
    const p = op()
      .catch(() => undefined)
      .finally(() => {
        if (this.pending.get(key) === entry) this.pending.delete(key);
        this.writes.delete(p);
      });
    this.writes.add(p);
  }

  claim(key: string, ttlMs: number): Promise<boolean> {
    return this.mutex.run(`claim:${key}`, async () => {
      if ((await this.get(`claim:${key}`)) !== undefined) return false;
      await this.set(`claim:${key}`, 1, ttlMs);
      return true;
    });
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

  async listPush(name: string, items: string[]): Promise<number> {
    return (await this.mutate<string[]>(`list:${name}`, (cur) => [...(cur ?? []), ...items])).length;
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
    while (this.writes.size) await Promise.all([...this.writes]);
    await this.kv.disconnect();
  }
}
