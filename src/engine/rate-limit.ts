import type { Store } from '../store/index.js';

/**
 * Turns per minute per person, counted in the store: on Redis every instance shares the count,
 * so a person gets the same allowance however the load balancer spreads their messages. A
 * sliding window (estimated from two fixed ones) keeps a burst at a minute's edge from doubling it.
 * Refused messages count too: someone who keeps flooding stays limited until they pause.
 */
export class RateLimiter {
  constructor(
    private readonly store: Store,
    private readonly perMinute: number,
  ) {}

  /** True when this person may start another turn now (and counts it). */
  async allow(who: string, now = Date.now()): Promise<boolean> {
    if (this.perMinute <= 0) return true;
    return (await this.store.hit(`turns:${who}`, 60_000, now)) <= this.perMinute;
  }
}
