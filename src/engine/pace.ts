/**
 * How many turns this instance runs at once: TURN_CONCURRENCY at most, halved when DashScope
 * answers 429 (at most once a second, so one burst of refusals halves it once), and one more
 * per `limit` calls that succeed (about one per round of turns): additive increase,
 * multiplicative decrease, as TCP does. Turns beyond the limit wait in the store, not in memory.
 */
export class Pace {
  private value: number;
  private lastCut = 0;

  constructor(
    readonly max: number,
    private readonly opts: { min?: number; cooldownMs?: number; onChange?: (limit: number, why: 'throttled' | 'recovered') => void } = {},
  ) {
    this.value = max;
  }

  /** Turns that may run now. */
  get limit(): number {
    return Math.max(this.opts.min ?? 1, Math.floor(this.value));
  }

  /** DashScope refused a call for its rate (429 Throttling). */
  throttled(now = Date.now()): void {
    if (now - this.lastCut < (this.opts.cooldownMs ?? 1_000)) return;
    this.lastCut = now;
    const before = this.limit;
    this.value = Math.max(this.opts.min ?? 1, this.value / 2);
    if (this.limit !== before) this.opts.onChange?.(this.limit, 'throttled');
  }

  /** A call went through. */
  succeeded(): void {
    if (this.value >= this.max) return;
    const before = this.limit;
    this.value = Math.min(this.max, this.value + 1 / Math.max(1, this.value));
    if (this.limit !== before) this.opts.onChange?.(this.limit, 'recovered');
  }
}
