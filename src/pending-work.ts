/**
 * Work started and not awaited (an event handled after its ack, a listener Bolt or discord.js
 * fires and forgets), tracked so tests and shutdown can wait until it is all done.
 *
 * @example const work = new PendingWork(); work.track(handle(event)); await work.idle();
 */
export class PendingWork {
  private readonly pending = new Set<Promise<unknown>>();

  /** Tracks `p` until it settles; returns it unchanged. */
  track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    // the caller owns p and handles its rejection; this chain only stops tracking it
    void p.finally(() => this.pending.delete(p)).catch(() => undefined);
    return p;
  }

  /** Resolves once everything tracked so far (and anything it started meanwhile) has settled. */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }
}
