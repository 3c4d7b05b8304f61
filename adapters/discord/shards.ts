import { randomUUID } from 'node:crypto';
import type { Logger } from '../../src/log.js';
import { LockTimeoutError, type HeldLock, type Store } from '../../src/store/index.js';

/** A gateway session for one shard: resolves once it is ready; `close` ends it. */
export interface ShardSession {
  close(): Promise<void>;
}

/**
 * Spreads a bot's gateway shards over the instances on one Redis: each shard is run by exactly
 * one instance, which holds a lease on it (the store's renewed lock). DISCORD_SHARD_LEASE (at
 * most 30 s) bounds how long a dead instance keeps its shards: the lock and the instance's
 * presence live 70% of it unrenewed, and instances look every sixth of it, so another takes
 * them (and identifies) within the lease. Each round an instance says it is alive, counts the live ones,
 * and takes free shards up to its share (ceil(shards / instances)); one holding more than its
 * share gives one back per round, so a newcomer gets work without every session restarting. At
 * start it waits half a lease first, so instances starting together share the shards instead of
 * the first taking them all. A lease that is lost, or that cannot be renewed in time (Redis
 * unreachable), closes its session first: two sessions of one shard never run at once. An
 * instance with no shard is a healthy standby.
 */
export class ShardLeases {
  private readonly instance = randomUUID();
  private readonly held = new Map<number, { lock: HeldLock; session: ShardSession }>();
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private stopped = false;
  /** When the store last answered this instance (its presence written). */
  private lastOk = Date.now();

  constructor(
    private readonly d: {
      store: Store;
      log: Logger;
      count: number;
      ttlMs: number;
      open: (shard: number) => Promise<ShardSession>;
    },
  ) {}

  /**
   * How long a lock or a presence lives unrenewed: 70% of the lease, so that with a look every
   * sixth of it a dead instance's shard is taken, and identified, within the lease.
   */
  private get liveMs(): number {
    return Math.floor(this.d.ttlMs * 0.7);
  }

  /** The shards this instance runs now. */
  shards(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  /** Takes this instance's first shards (after one round, so instances starting together share them), then keeps looking. */
  async start(): Promise<void> {
    await this.presence();
    // instances starting together: wait for the others to say they are alive, so the first does not take everything
    if (this.d.count > 1) await new Promise((r) => setTimeout(r, this.d.ttlMs / 2));
    await this.tick();
    this.timer = setInterval(() => void this.tickOnce(), this.every());
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.ticking;
    for (const shard of this.shards()) await this.giveBack(shard, 'stopping');
    await Promise.all([this.d.store.delete(aliveKey(this.instance)), this.d.store.setRemove(MEMBERS, this.instance)]).catch(() => undefined);
  }

  private every(): number {
    return Math.max(100, Math.floor(this.d.ttlMs / 6));
  }

  private tickOnce(): Promise<void> {
    this.ticking ??= this.tick()
      .catch((err: unknown) => this.d.log.warn({ err }, 'discord shard leases: a round failed'))
      .finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  /** Writes this instance's presence; returns the live instances. */
  private async presence(): Promise<string[]> {
    try {
      await this.d.store.set(aliveKey(this.instance), 1, this.liveMs);
      await this.d.store.setAdd(MEMBERS, this.instance);
      this.lastOk = Date.now();
    } catch (err) {
      // cannot renew anything either: past most of the TTL, another instance may take these shards, so close them first
      if (Date.now() - this.lastOk > this.liveMs * 0.6 && this.held.size) {
        this.d.log.error({ shards: this.shards() }, 'discord shard leases cannot be renewed (store unreachable): closing their sessions before they lapse');
        for (const shard of this.shards()) await this.giveBack(shard, 'store unreachable');
      }
      throw err;
    }
    const alive: string[] = [];
    for (const member of await this.d.store.setMembers(MEMBERS)) {
      if (member === this.instance || (await this.d.store.get(aliveKey(member)))) alive.push(member);
      else await this.d.store.setRemove(MEMBERS, member);
    }
    return alive;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const alive = await this.presence();
    const share = Math.ceil(this.d.count / Math.max(1, alive.length));
    if (this.held.size > share) {
      const extra = this.shards().at(-1)!;
      this.d.log.info({ shard: extra, share, instances: alive.length }, 'discord: giving a shard back so another instance can run it');
      await this.giveBack(extra, 'rebalancing');
      return;
    }
    for (let shard = 0; shard < this.d.count && this.held.size < share && !this.stopped; shard++) {
      if (this.held.has(shard)) continue;
      await this.take(shard);
    }
  }

  private async take(shard: number): Promise<void> {
    let lock: HeldLock;
    try {
      lock = await this.d.store.lock(leaseName(shard), { ttlMs: this.liveMs, waitMs: 0 });
    } catch (err) {
      if (err instanceof LockTimeoutError) return; // another instance runs it
      throw err;
    }
    this.d.log.info({ shard, of: this.d.count }, 'discord: took the lease on a shard; connecting');
    let session: ShardSession;
    try {
      session = await this.d.open(shard);
    } catch (err) {
      await lock.release();
      this.d.log.warn({ shard, err }, 'discord: could not open a shard; another round will try again');
      return;
    }
    if (lock.lost.aborted || this.stopped) {
      await session.close();
      await lock.release();
      return;
    }
    this.held.set(shard, { lock, session });
    lock.lost.addEventListener('abort', () => void this.giveBack(shard, 'lease lost'), { once: true });
    this.d.log.info({ shard, of: this.d.count, instance: this.instance }, 'discord: running a shard');
  }

  private async giveBack(shard: number, why: string): Promise<void> {
    const h = this.held.get(shard);
    if (!h) return;
    this.held.delete(shard);
    // the session ends before the lease is let go: no moment with two sessions of the shard
    await h.session.close().catch((err: unknown) => this.d.log.warn({ shard, err }, 'discord: closing a shard session failed'));
    await h.lock.release();
    if (why !== 'stopping') this.d.log.info({ shard, why }, 'discord: shard given back');
  }
}

const MEMBERS = 'discord-gateway:instances';
const aliveKey = (instance: string) => `discord-gateway:alive:${instance}`;
const leaseName = (shard: number) => `discord-shard:${shard}`;

/**
 * How much longer than Discord's window a claim holds: the IDENTIFY leaves some time after its
 * claim, and that time differs between machines. With the bare 5 s, a claim taken right after
 * another expired could send its IDENTIFY sooner after the previous one than 5 s (the shard suite
 * caught one refused under load).
 */
const SEND_MARGIN_MS = 500;

/**
 * discord.js's identify throttle (`ws.buildIdentifyThrottler`) across instances: one IDENTIFY per
 * bucket (shard id % max_concurrency) per 5 s, claimed in the store (plus SEND_MARGIN_MS), so
 * shards starting on different machines never exceed Discord's session start rate (exceeding it
 * invalidates sessions).
 */
export function sharedIdentifyThrottler(store: Store, maxConcurrency: number, windowMs = 5_000) {
  return {
    async waitForIdentify(shardId: number, signal: AbortSignal): Promise<void> {
      const bucket = shardId % Math.max(1, maxConcurrency);
      for (;;) {
        if (signal.aborted) throw signal.reason;
        if (await store.claim(`discord-identify:${bucket}`, windowMs + SEND_MARGIN_MS)) return;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 100));
      }
    },
  };
}
