import { randomUUID } from 'node:crypto';
import { createClient } from '@redis/client';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** This run's part of every test key prefix (`uniquePrefix`), so the run can remove its own keys at the end and no one else's. */
    testRun: string;
  }
}

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Gives the run an id for its Redis keys; at the end, deletes the keys the run's tests left under it. */
export default function setup(project: TestProject): () => Promise<void> {
  const run = randomUUID().slice(0, 8);
  project.provide('testRun', run);
  return async () => {
    const redis = createClient({ url: REDIS_URL, socket: { connectTimeout: 2_000, reconnectStrategy: false } });
    redis.on('error', () => undefined); // no Redis: nothing was left in it
    try {
      await redis.connect();
      const batch: string[] = [];
      for await (const keys of redis.scanIterator({ MATCH: `threadline-test:${run}:*`, COUNT: 1000 })) {
        batch.push(...keys);
        if (batch.length >= 1000) await redis.unlink(batch.splice(0));
      }
      if (batch.length) await redis.unlink(batch);
    } catch {
      // Redis went away: its keys go with it
    } finally {
      redis.destroy();
    }
  };
}
