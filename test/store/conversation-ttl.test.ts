import { createClient } from '@redis/client';
import { afterAll, describe, expect, it } from 'vitest';
import { Conversations } from '../../src/engine/conversations.js';
import { RedisStore } from '../../src/store/index.js';
import { REDIS_URL, uniquePrefix } from '../helpers.js';

/** Issue 19, finding 8: conversation records do not pile up forever (CONVERSATION_TTL). Redis is real here. */
const prefix = uniquePrefix('ttl');
const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of closers) await c();
});

async function ttlOf(): Promise<number[]> {
  const redis = createClient({ url: REDIS_URL });
  await redis.connect();
  closers.push(() => redis.close());
  const keys = (await redis.keys(`${prefix.replace(/:$/, '')}*`)).filter((k) => k.includes('conversation:'));
  return Promise.all(keys.map((k) => redis.pTTL(k)));
}

describe('conversation records', () => {
  it('expire CONVERSATION_TTL after their last save, and each save pushes the expiry out again', async () => {
    const store = await RedisStore.connect({ url: REDIS_URL, prefix });
    closers.push(() => store.close());
    const conversations = new Conversations(store, { ttlMs: 3_600_000 });
    const rec = {
      key: 'slack:T1:CTTL:1.0',
      state: { backend: 'assistant', threadId: 'thread_1' },
      target: { platform: 'slack' as const, channel: 'CTTL' },
      createdAt: Date.now(),
      lastActivity: Date.now(),
    };
    await conversations.save(rec);
    const [ttl] = await ttlOf();
    expect(ttl).toBeGreaterThan(3_500_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
    expect((await conversations.get(rec.key))?.state).toEqual(rec.state);
    // without a TTL (CONVERSATION_TTL=0) a record is kept
    await new Conversations(store, { ttlMs: 0 }).save(rec);
    expect(await ttlOf()).toEqual([-1]);
  });
});
