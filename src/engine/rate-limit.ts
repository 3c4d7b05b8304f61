/**
 * Turns per minute per person, in a sliding window. Per process: behind a load balancer each
 * instance counts its own share, which still stops one person from flooding a conversation.
 */
export class RateLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(private readonly perMinute: number) {}

  /** True when this person may start another turn now (and counts it). */
  allow(who: string, now = Date.now()): boolean {
    if (this.perMinute <= 0) return true;
    const recent = (this.hits.get(who) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= this.perMinute) {
      this.hits.set(who, recent);
      return false;
    }
    recent.push(now);
    this.hits.set(who, recent);
    if (this.hits.size > 10_000) for (const [k, v] of this.hits) if (v.every((t) => now - t >= 60_000)) this.hits.delete(k);
    return true;
  }
}
