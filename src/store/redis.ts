import { randomUUID } from 'node:crypto';
import { createClient } from '@redis/client';
import KeyvRedis from '@keyv/redis';
import { Keyv } from 'keyv';
import { KeyedMutex } from './mutex.js';
import { LockTimeoutError, StoreUnavailableError, slidingWindow, type HeldLock, type LockOptions, type PushAlso, type Store } from './store.js';

const RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
/** A claim becomes settled ('2') only where it exists, and keeps its TTL. */
const SETTLE = { condition: 'XX', expiration: 'KEEPTTL' } as const;
/** The conversation's queue is empty: it leaves the in-flight set (a push adds it back in its own MULTI). */
const FORGET_IF_EMPTY = "local n = redis.call('llen', KEYS[1]) if n == 0 then redis.call('srem', KEYS[2], ARGV[1]) end return n";
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

type Client = ReturnType<typeof createClient>;

export interface RedisStoreOptions {
  url: string;
  /** Prefix of every key (default `threadline:`). */
  prefix?: string;
  connectTimeoutMs?: number;
  onError?: (err: Error) => void;
}

/**
 * Store for several instances: Keyv over @keyv/redis for records, and the raw node-redis client
 * for what must be atomic across instances: SET NX PX for dedupe, token locks renewed by a Lua
 * compare-and-pexpire and released by compare-and-delete, sets and lists.
 *
 * The offline queue is off, so while Redis is away every call fails fast instead of hanging,
 * and the client reconnects by itself.
 */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  private readonly keyv: Keyv;
  private readonly local = new KeyedMutex();
  private readonly prefix: string;

  private constructor(
    private readonly client: Client,
    prefix: string,
  ) {
    this.prefix = prefix;
    const adapter = new KeyvRedis(client, { namespace: prefix.replace(/:$/, ''), throwOnErrors: true, throwOnConnectError: true });
    this.keyv = new Keyv({ store: adapter, namespace: prefix.replace(/:$/, ''), useKeyPrefix: false, throwOnErrors: true });
    this.keyv.on('error', () => {
      // errors are thrown to the caller (throwOnErrors); the client's listener logs them
    });
  }

  /** Connects, failing with StoreUnavailableError when Redis does not answer in time. */
  static async connect(opts: RedisStoreOptions): Promise<RedisStore> {
    const timeout = opts.connectTimeoutMs ?? 5_000;
    const client: Client = createClient({
      url: opts.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: timeout, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2_000) },
    });
    client.on('error', (err: Error) => opts.onError?.(err));
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([client.connect(), new Promise((_, reject) => (timer = setTimeout(() => reject(new StoreUnavailableError(`Redis did not answer within ${timeout} ms`)), timeout)))]);
    } catch (err) {
      client.destroy();
      throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`cannot connect to Redis: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    return new RedisStore(client, opts.prefix ?? 'threadline:');
  }

  private k(kind: string, name: string): string {
    return `${this.prefix}${kind}:${name}`;
  }

  private guard<T>(p: Promise<T>): Promise<T> {
    return p.catch((err: Error) => {
      throw new StoreUnavailableError(`Redis: ${err.message}`, { cause: err });
    });
  }

  async get<T>(key: string): Promise<T | undefined> {
    return (await this.guard(this.keyv.get<T>(key))) ?? undefined;
  }

  async set<T>(key: string, value: T, ttlMs?: number): Promise<void> {
    await this.guard(this.keyv.set(key, value, ttlMs));
  }

  async delete(key: string): Promise<void> {
    await this.guard(this.keyv.delete(key));
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    const res = await this.guard(this.client.set(this.k('claim', key), '1', { condition: 'NX', expiration: { type: 'PX', value: Math.max(1, Math.round(ttlMs)) } }));
    return res === 'OK';
  }

  /** `KEEPTTL`: the claim lives as long as it was going to (`_ttlMs` is for the embedded store). */
  async settle(key: string, _ttlMs?: number): Promise<void> {
    await this.guard(this.client.set(this.k('claim', key), '2', SETTLE));
  }

  async claimState(key: string): Promise<'none' | 'claimed' | 'settled'> {
    const v = await this.guard(this.client.get(this.k('claim', key)));
    return v === null ? 'none' : v === '2' ? 'settled' : 'claimed';
  }

  async hit(key: string, windowMs: number, now = Date.now()): Promise<number> {
    const w = slidingWindow(windowMs, now);
    const current = this.k('hits', `${key}:${w.index}`);
    // one round trip: create the window's counter with its expiry, count, read the previous window
    const [, count, previous] = await this.guard(
      this.client
        .multi()
        .set(current, '0', { condition: 'NX', expiration: { type: 'PX', value: 2 * windowMs } })
        .incr(current)
        .get(this.k('hits', `${key}:${w.index - 1}`))
        .exec(),
    );
    return w.estimate(Number(count), Number(previous ?? 0));
  }

  async count(key: string, n: number, ttlMs: number): Promise<number> {
    const k = this.k('count', key);
    // one round trip: create the counter with its expiry, add
    const [, value] = await this.guard(
      this.client
        .multi()
        .set(k, '0', { condition: 'NX', expiration: { type: 'PX', value: ttlMs } })
        .incrBy(k, Math.round(n))
        .exec(),
    );
    return Number(value);
  }

  async lock(name: string, opts: LockOptions = {}): Promise<HeldLock> {
    const ttl = opts.ttlMs ?? 30_000;
    const deadline = Date.now() + (opts.waitMs ?? 15 * 60_000);
    // Waiters in this process queue locally, so only one of them polls Redis at a time.
    const releaseLocal = await this.local.acquireWithin(name, Math.max(0, deadline - Date.now()), () => new LockTimeoutError(name), opts.signal);
    const key = this.k('lock', name);
    const token = randomUUID();
    let pause = 25;
    try {
      for (;;) {
        if (opts.signal?.aborted) throw new LockTimeoutError(name);
        const ok = await this.guard(this.client.set(key, token, { condition: 'NX', expiration: { type: 'PX', value: ttl } }));
        if (ok === 'OK') break;
        if (Date.now() + pause > deadline) throw new LockTimeoutError(name);
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, 500);
      }
    } catch (err) {
      releaseLocal();
      throw err;
    }
    const lost = new AbortController();
    const renew = setInterval(
      () => {
        this.client
          .eval(RENEW, { keys: [key], arguments: [token, String(ttl)] })
          .then((res) => {
            if (Number(res) !== 1) {
              clearInterval(renew);
              lost.abort(new Error(`lock ${name} was lost`));
            }
          })
          .catch(() => {
            // Redis away for a moment: keep trying until the TTL says otherwise
          });
      },
      Math.max(10, Math.floor(ttl / 3)),
    );
    renew.unref();
    let released = false;
    return {
      lost: lost.signal,
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(renew);
        try {
          await this.client.eval(RELEASE, { keys: [key], arguments: [token] });
        } catch {
          // unreachable Redis: the TTL frees the lock
        } finally {
          releaseLocal();
        }
      },
    };
  }

  async setAdd(name: string, member: string): Promise<void> {
    await this.guard(this.client.sAdd(this.k('set', name), member));
  }

  async setRemove(name: string, member: string): Promise<void> {
    await this.guard(this.client.sRem(this.k('set', name), member));
  }

  async setMembers(name: string): Promise<string[]> {
    return this.guard(this.client.sMembers(this.k('set', name)));
  }

  async listPush(name: string, items: string[], with_: PushAlso = {}): Promise<number> {
    if (items.length === 0) return this.listLength(name);
    if (!with_.setAdd && !with_.settle) return this.guard(this.client.rPush(this.k('list', name), items));
    const m = this.client.multi();
    if (with_.setAdd) m.sAdd(this.k('set', with_.setAdd.name), with_.setAdd.member);
    m.rPush(this.k('list', name), items);
    if (with_.settle) m.set(this.k('claim', with_.settle.key), '2', SETTLE);
    const replies = await this.guard(m.exec());
    return Number(replies[with_.setAdd ? 1 : 0]);
  }

  async listRange(name: string, start: number, stop: number): Promise<string[]> {
    return this.guard(this.client.lRange(this.k('list', name), start, stop));
  }

  async listDropFront(name: string, count: number): Promise<void> {
    if (count <= 0) return;
    await this.guard(this.client.lTrim(this.k('list', name), count, -1));
  }

  async listLength(name: string): Promise<number> {
    return this.guard(this.client.lLen(this.k('list', name)));
  }

  async setRemoveIfListEmpty(name: string, from: { name: string; member: string }): Promise<number> {
    return Number(await this.guard(this.client.eval(FORGET_IF_EMPTY, { keys: [this.k('list', name), this.k('set', from.name)], arguments: [from.member] })));
  }

  async ping(): Promise<boolean> {
    if (!this.client.isReady) return false;
    try {
      let timer: NodeJS.Timeout | undefined;
      const res = await Promise.race([this.client.ping(), new Promise<string>((r) => (timer = setTimeout(() => r('timeout'), 1_000)))]);
      clearTimeout(timer);
      return res === 'PONG';
    } catch {
      return false; // not answering: /readyz names the store, the client's error listener logs why
    }
  }

  /** A second connection for pub/sub (a subscribed Redis connection can do nothing else), made on the first subscribe. */
  private subscriber?: Promise<Client>;

  async publish(channel: string, message: string): Promise<void> {
    await this.guard(this.client.publish(this.k('channel', channel), message));
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<void> {
    this.subscriber ??= (async () => {
      const sub = this.client.duplicate();
      sub.on('error', () => undefined); // the main client reports Redis errors; this one reconnects by itself
      await sub.connect();
      return sub;
    })();
    const sub = await this.guard(this.subscriber);
    await this.guard(sub.subscribe(this.k('channel', channel), (message: string) => handler(message)));
  }

  async close(): Promise<void> {
    const sub = await this.subscriber?.catch(() => undefined); // a subscriber that never connected was reported then; nothing to close
    for (const c of [sub, this.client]) {
      if (!c) continue;
      try {
        if (c.isReady) await c.close();
        else c.destroy();
      } catch {
        c.destroy(); // a clean QUIT failed: drop the socket, which is all close() owes
      }
    }
  }
}
