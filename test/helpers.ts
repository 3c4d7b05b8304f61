import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, inject } from 'vitest';
import { LocalStore, RedisStore, type Store } from '../src/store/index.js';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A key prefix of its own for each test, so files running in parallel never share Redis keys;
 * under the run's id (test/global-setup.ts), which deletes what the run left when it ends.
 */
export function uniquePrefix(label = 't'): string {
  return `threadline-test:${inject('testRun')}:${label}:${randomUUID().slice(0, 8)}:`;
}

export function tempDir(label = 'threadline'): string {
  return mkdtempSync(join(tmpdir(), `${label}-`));
}

/** Resolves when `emitter` emits `event` (first argument). */
export function once<T = unknown>(emitter: { once(e: string, f: (v: T) => void): unknown }, event: string): Promise<T> {
  return new Promise((r) => emitter.once(event, r));
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as import('node:net').AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Polls `check` until it returns true (for states with no event to wait on, such as /readyz
 * after Redis went away); fails after `timeoutMs`.
 */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000, label = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A real Threadline logger whose JSON lines land in `lines` (what the operator would read). */
export async function capturingLogger(level = 'info'): Promise<{ log: import('../src/log.js').Logger; lines: Array<Record<string, unknown>> }> {
  const { Writable } = await import('node:stream');
  const { createLogger } = await import('../src/log.js');
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger(
    level,
    new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    }),
  );
  return { log, lines };
}

/**
 * The in-memory and the Redis store, for `describe.each`: each store a test makes is closed after
 * that test. Call it at the top of a test file (it registers the afterEach).
 */
export function memoryAndRedisStores(label: string): ReadonlyArray<readonly [string, () => Promise<Store>]> {
  const opened: Store[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });
  const kept = async (s: Store | Promise<Store>) => {
    const store = await s;
    opened.push(store);
    return store;
  };
  return [
    ['memory', () => kept(new LocalStore())],
    ['redis', () => kept(RedisStore.connect({ url: REDIS_URL, prefix: uniquePrefix(label) }))],
  ];
}
