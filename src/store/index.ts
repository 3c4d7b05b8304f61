import { join } from 'node:path';
import { LocalStore } from './local.js';
import { RedisStore } from './redis.js';
import type { Store } from './store.js';

export { KeyedMutex } from './mutex.js';
export { LocalStore } from './local.js';
export { RedisStore } from './redis.js';
export * from './store.js';

/**
 * Redis when REDIS_URL is set, otherwise the embedded file store under DATA_DIR.
 *
 * @example const store = await createStore({ redisUrl: process.env.REDIS_URL, dataDir: './data' })
 */
export async function createStore(opts: { redisUrl?: string; redisPrefix?: string; dataDir: string; onError?: (err: Error) => void }): Promise<Store> {
  if (opts.redisUrl) return RedisStore.connect({ url: opts.redisUrl, prefix: opts.redisPrefix, onError: opts.onError });
  return new LocalStore({ file: join(opts.dataDir, 'threadline.jsonl'), legacyFile: join(opts.dataDir, 'threadline.json'), onError: opts.onError });
}
