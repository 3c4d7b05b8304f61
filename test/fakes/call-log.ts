/** A recorded call at a fake, and a way to wait for one without sleeping. */
export interface Call {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  at: number;
  /** performance.now() when it arrived (benchmarks compare these within one process). */
  hr?: number;
  /** Id of what the call created (the fake DashScope sets it for new threads). */
  createdId?: string;
}

export class CallLog<T extends { at: number } = Call> {
  readonly calls: T[] = [];
  private waiters: Array<{ pred: (c: T, all: T[]) => boolean; resolve: (c: T) => void }> = [];

  record(call: T): void {
    this.calls.push(call);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(call, this.calls)) return true;
      w.resolve(call);
      return false;
    });
  }

  /** Resolves with the first call (already recorded or future) that matches. */
  waitFor(pred: (c: T, all: T[]) => boolean, timeoutMs = 10_000, label = 'call'): Promise<T> {
    const found = this.calls.find((c) => pred(c, this.calls));
    if (found) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out waiting for ${label}; saw ${this.calls.length} calls`));
      }, timeoutMs);
      const done = (c: T) => {
        clearTimeout(timer);
        resolve(c);
      };
      this.waiters.push({ pred, resolve: done });
    });
  }

  /** Resolves once `count` calls match. */
  async waitForCount(pred: (c: T) => boolean, count: number, timeoutMs = 10_000, label = 'calls'): Promise<T[]> {
    await this.waitFor((_c, all) => all.filter(pred).length >= count, timeoutMs, `${count} ${label}`);
    return this.calls.filter(pred);
  }

  filter(pred: (c: T) => boolean): T[] {
    return this.calls.filter(pred);
  }

  clear(): void {
    this.calls.length = 0;
  }
}

export function readBody(req: import('node:http').IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Starts `server` on 127.0.0.1 at a free port; resolves with its base URL (`http://127.0.0.1:PORT`). */
export async function listenLocal(server: import('node:http').Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
}

/** Closes `server`, dropping connections still open (keep-alive, streams) so the close never waits on them. */
export async function closeServer(server: import('node:http').Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}
