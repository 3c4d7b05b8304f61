/**
 * How many turns this instance runs at once: TURN_CONCURRENCY at most, halved when DashScope
 * answers 429 or a platform refuses the bot for its global rate (at most once a second, so one
 * burst of refusals halves it once), and one more per `limit` calls that succeed (about one per
 * round of turns): additive increase, multiplicative decrease, as TCP does. Turns beyond the
 * limit wait in the store, not in memory.
 */
export class Pace {
  private value: number;
  private lastCut = 0;

  constructor(
    readonly max: number,
    private readonly opts: { min?: number; cooldownMs?: number; onChange?: (limit: number, why: 'throttled' | 'recovered', by?: string) => void } = {},
  ) {
    this.value = max;
  }

  /** Turns that may run now. */
  get limit(): number {
    return Math.max(this.opts.min ?? 1, Math.floor(this.value));
  }

  /** A call was refused for its rate: DashScope's 429 Throttling (`by` 'dashscope'), or a platform's global limit ('discord'). */
  throttled(now = Date.now(), by = 'dashscope'): void {
    if (now - this.lastCut < (this.opts.cooldownMs ?? 1_000)) return;
    this.lastCut = now;
    const before = this.limit;
    this.value = Math.max(this.opts.min ?? 1, this.value / 2);
    if (this.limit !== before) this.opts.onChange?.(this.limit, 'throttled', by);
  }

  /** A call went through. */
  succeeded(): void {
    if (this.value >= this.max) return;
    const before = this.limit;
    this.value = Math.min(this.max, this.value + 1 / Math.max(1, this.value));
    if (this.limit !== before) this.opts.onChange?.(this.limit, 'recovered');
  }
}
