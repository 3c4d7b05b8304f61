import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix of its own for each test, so files running in parallel never share Redis keys. */
export function uniquePrefix(label = 't'): string {
  return `threadline-test:${label}:${randomUUID().slice(0, 8)}:`;
}

export function tempDir(label = 'threadline'): string {
  return mkdtempSync(join(tmpdir(), `${label}-`));
}

/** Resolves when `emitter` emits `event` (first argument). */
export function once<T = unknown>(emitter: { once(e: string, f: (v: T) => void): unknown }, event: string): Promise<T> {
  return new Promise((r) => emitter.once(event, r));
}
