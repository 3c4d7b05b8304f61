/**
 * Shows the newest text at most once per interval: the first update goes out at once, later ones
 * wait out the interval and the update in progress, and only the newest text is ever shown (a
 * streamed reply edited in place without hitting the platform's rate limits).
 *
 * @example const edits = new EditThrottle(1_000, (text) => message.edit(text)); edits.push(soFar)
 */
export class EditThrottle {
  private latest = '';
  private shown = '';
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private last = 0;
  private closed = false;

  constructor(
    private readonly intervalMs: number,
    /** Shows the text; it should handle its own errors (a rejection is dropped). */
    private readonly show: (text: string) => Promise<void>,
  ) {}

  push(text: string): void {
    if (this.closed) return;
    this.latest = text;
    this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.running || this.timer) return;
    const wait = this.last + this.intervalMs - Date.now();
    if (wait <= 0) this.run();
    else
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.run();
      }, wait);
  }

  private run(): void {
    this.last = Date.now();
    const text = this.latest;
    this.running = this.show(text)
      .then(
        () => void (this.shown = text),
        () => undefined,
      )
      .finally(() => {
        this.running = undefined;
        if (this.latest !== this.shown) this.schedule();
      });
  }

  /**
   * Before the final text: no more updates from here on; cancels a waiting one and waits for the
   * one in progress, so nothing can be shown after (or while) the caller shows the final text.
   */
  async settle(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.running) await this.running;
  }
}

/** Lets one thing per key through per `everyMs` (e.g. one typing indicator per channel); remembers at most `max` keys. */
export class PerKeyGate {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly everyMs: number,
    private readonly max = 10_000,
  ) {}

  pass(key: string, now = Date.now()): boolean {
    const at = this.last.get(key);
    if (at !== undefined && now - at < this.everyMs) return false;
    this.last.delete(key);
    this.last.set(key, now);
    if (this.last.size > this.max) this.last.delete(this.last.keys().next().value!);
    return true;
  }
}
