/**
 * What must be true before Threadline takes traffic: startup finished, the store answers, every
 * enabled platform is connected. Each part is a named check; /readyz reports the ones failing.
 */
export class Readiness {
  private readonly checks = new Map<string, () => boolean | Promise<boolean>>();
  private started = false;
  private stopping = false;

  /** Adds (or replaces) a named check. */
  add(name: string, check: () => boolean | Promise<boolean>): void {
    this.checks.set(name, check);
  }

  markStarted(): void {
    this.started = true;
  }

  markStopping(): void {
    this.stopping = true;
  }

  /** The names of what is not ready (empty when ready). */
  async notReady(): Promise<string[]> {
    const failing: string[] = [];
    if (!this.started) failing.push('startup');
    if (this.stopping) failing.push('shutting-down');
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        let ok: boolean;
        try {
          ok = await Promise.race([Promise.resolve(check()), new Promise<boolean>((r) => setTimeout(() => r(false), 2_000).unref())]);
        } catch {
          ok = false; // a check that throws is failing: /readyz names it, which is the report
        }
        if (!ok) failing.push(name);
      }),
    );
    return failing.sort();
  }
}
