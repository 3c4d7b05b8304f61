/**
 * In-process mutual exclusion by name: callers for one name run one after another, in arrival
 * order; different names never wait for each other. Entries are dropped when nobody holds them.
 */
export class KeyedMutex {
  private tails = new Map<string, Promise<void>>();

  /** Waits for the name, then returns a release function (call it exactly once). */
  async acquire(name: string): Promise<() => void> {
    const previous = this.tails.get(name) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = previous.then(() => mine);
    this.tails.set(name, tail);
    await previous;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      release();
      if (this.tails.get(name) === tail) this.tails.delete(name);
    };
  }

  /**
   * Like acquire, but gives up after `timeoutMs` (or when `signal` fires) with `onTimeout()`'s
   * error; a slot granted after giving up is released at once, so the queue keeps moving.
   */
  async acquireWithin(name: string, timeoutMs: number, onTimeout: () => Error, signal?: AbortSignal): Promise<() => void> {
    const acquiring = this.acquire(name);
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const gaveUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(onTimeout()), timeoutMs);
      onAbort = () => reject(onTimeout());
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([acquiring, gaveUp]);
    } catch (err) {
      void acquiring.then((release) => release());
      throw err;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(name);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  isLocked(name: string): boolean {
    return this.tails.has(name);
  }
}
