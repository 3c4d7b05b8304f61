import { createClient } from '@redis/client';
import { REDIS_URL, eventually } from '../helpers.js';

const connect = () => createClient({ url: REDIS_URL }).connect();
export type Redis = Awaited<ReturnType<typeof connect>>;

/** Runs `fn` with a Redis client of its own. */
export async function withRedis<T>(fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = await connect();
  return fn(r).finally(() => r.destroy());
}

/** The stored conversation record under `prefix` whose key ends with `:${last}` (a thread's ts, a DM's channel), as Keyv keeps it; '' when there is none. */
export function recordOf(prefix: string, last: string): Promise<string> {
  return withRedis(async (r) => {
    let key: string | undefined;
    for await (const keys of r.scanIterator({ MATCH: `${prefix.replace(/:$/, '')}::conversation:*:${last}` })) key ??= keys[0];
    return key ? String(await r.get(key)) : '';
  });
}

/** Where that conversation's reply is, as its record keeps it (the sink's place), or undefined. */
export async function placeOf(prefix: string, last: string): Promise<Record<string, unknown> | undefined> {
  const raw = await recordOf(prefix, last);
  return raw ? (JSON.parse(raw) as { value?: { placed?: Record<string, unknown> } }).value?.placed : undefined;
}

/** Waits until that record keeps where its reply is. */
export function placeKept(prefix: string, last: string, ms = 10_000): Promise<void> {
  return eventually(async () => (await placeOf(prefix, last)) !== undefined, ms, 'the place kept');
}

/** Waits until the conversation under `prefix` whose key ends with `:${last}` has nothing in flight any more (its turn settled). */
export function settled(prefix: string, last: string, ms: number): Promise<void> {
  return withRedis((r) => eventually(async () => !(await r.sMembers(`${prefix}set:inflight-runs`)).some((k) => k.endsWith(`:${last}`)), ms, 'the turn settled'));
}
