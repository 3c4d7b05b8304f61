import { afterEach, describe, expect, it, vi } from 'vitest';
import { appendFileSync, existsSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { Keyv } from 'keyv';
import { KeyvFile } from 'keyv-file';
import { join } from 'node:path';
import { LocalStore, LockTimeoutError, RedisStore, type Store } from '../../src/store/index.js';
import { createClient } from '@redis/client';
import { REDIS_URL, eventually, tempDir, uniquePrefix } from '../helpers.js';

const opened: Store[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

async function redis(prefix = uniquePrefix('store')): Promise<RedisStore> {
  const s = await RedisStore.connect({ url: REDIS_URL, prefix });
  opened.push(s);
  return s;
}
function memory(): LocalStore {
  const s = new LocalStore();
  opened.push(s);
  return s;
}

describe.each([
  ['memory', async () => memory()],
  [
    'file',
    async () => {
      const s = new LocalStore({ file: join(tempDir(), 'kv.json') });
      opened.push(s);
      return s;
    },
  ],
  ['redis', () => redis()],
] as const)('%s store', (_name, make) => {
  it('keeps records, expires them by TTL, deletes them', async () => {
    const s = await make();
    await s.set('a', { n: 1 });
    expect(await s.get('a')).toEqual({ n: 1 });
    await s.delete('a');
    expect(await s.get('a')).toBeUndefined();
    // a record with a TTL goes away by itself; one without, and one with a long TTL, stay
    await s.set('short', 'lived', 60);
    await s.set('long', 'lived', 3_600_000);
    await s.set('kept', 'forever');
    expect(await s.get('short')).toBe('lived');
    await eventually(async () => (await s.get('short')) === undefined, 2_000, 'the 60 ms record to expire');
    expect(await s.get('long')).toBe('lived');
    expect(await s.get('kept')).toBe('forever');
  });

  it('claims an id once, also under concurrency', async () => {
    const s = await make();
    const results = await Promise.all(Array.from({ length: 20 }, () => s.claim('ev-1', 60_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await s.claim('ev-2', 60_000)).toBe(true);
  });

  it('settles a claim, and queues with a set member and a settled claim in one step', async () => {
    const s = await make();
    expect(await s.claimState('ev-3')).toBe('none');
    await s.settle('ev-3', 60_000); // never claimed: nothing to settle
    expect(await s.claimState('ev-3')).toBe('none');
    await s.claim('ev-3', 60_000);
    expect(await s.claimState('ev-3')).toBe('claimed');
    await s.settle('ev-3', 60_000);
    expect(await s.claimState('ev-3')).toBe('settled');
    expect(await s.claim('ev-3', 60_000)).toBe(false); // still a claim

    await s.claim('ev-4', 60_000);
    expect(await s.listPush('q', ['a'], { setAdd: { name: 'busy', member: 'conv-1' }, settle: { key: 'ev-4', ttlMs: 60_000 } })).toBe(1);
    expect(await s.listPush('q', ['b', 'c'])).toBe(3);
    expect(await s.listRange('q', 0, -1)).toEqual(['a', 'b', 'c']);
    expect(await s.setMembers('busy')).toEqual(['conv-1']);
    expect(await s.claimState('ev-4')).toBe('settled');
  });

  it('serialises lock holders in order and times out a waiter', async () => {
    const s = await make();
    const order: number[] = [];
    const held = await s.lock('conv', { ttlMs: 5_000 });
    const second = s.lock('conv', { ttlMs: 5_000 }).then(async (l) => {
      order.push(2);
      await l.release();
    });
    await expect(s.lock('conv', { waitMs: 50 })).rejects.toBeInstanceOf(LockTimeoutError);
    order.push(1);
    await held.release();
    await second;
    expect(order).toEqual([1, 2]);
  });

  it('keeps sets and lists in order', async () => {
    const s = await make();
    await s.setAdd('inflight', 'a');
    await s.setAdd('inflight', 'b');
    await s.setAdd('inflight', 'a');
    await s.setRemove('inflight', 'b');
    expect(await s.setMembers('inflight')).toEqual(['a']);
    expect(await s.listPush('q', ['1', '2', '3'])).toBe(3);
    await s.listPush('q', ['4']);
    expect(await s.listRange('q', 0, 1)).toEqual(['1', '2']);
    await s.listDropFront('q', 2);
    expect(await s.listRange('q', 0, -1)).toEqual(['3', '4']);
    expect(await s.listLength('q')).toBe(2);
  });

  it('takes a conversation out of the in-flight set only while its queue is empty, and a push puts it back', async () => {
    const s = await make();
    const mark = { name: 'inflight', member: 'conv' };
    await s.listPush('turns', ['m1'], { setAdd: mark });
    // something is queued: the mark stays, and the caller learns how much
    expect(await s.setRemoveIfListEmpty('turns', mark)).toBe(1);
    expect(await s.setMembers('inflight')).toEqual(['conv']);
    await s.listDropFront('turns', 1);
    expect(await s.setRemoveIfListEmpty('turns', mark)).toBe(0);
    expect(await s.setMembers('inflight')).toEqual([]);
    await s.listPush('turns', ['m2'], { setAdd: mark });
    expect(await s.setMembers('inflight')).toEqual(['conv']);
  });

  it('counts hits in a sliding window: this window in full, the previous one by how much still overlaps', async () => {
    const s = await make();
    const minute = 60_000;
    const start = 1_000 * minute; // the start of a window
    expect(await s.hit('ada', minute, start + 1_000)).toBe(1);
    expect(await s.hit('ada', minute, start + 2_000)).toBe(2);
    expect(await s.hit('ada', minute, start + 50_000)).toBe(3);
    expect(await s.hit('grace', minute, start + 50_000)).toBe(1);
    // a quarter into the next window, three quarters of the previous three hits still count
    expect(await s.hit('ada', minute, start + minute + 15_000)).toBe(1 + 2);
    // two windows on, nothing from the first is left
    expect(await s.hit('ada', minute, start + 2 * minute + 59_000)).toBe(1);
  });
});

describe('file store', () => {
  const journal = () => join(tempDir(), 'threadline.jsonl');
  const reopen = (file: string, opts: { legacyFile?: string; compactBytes?: number } = {}) => {
    const s = new LocalStore({ file, ...opts });
    opened.push(s);
    return s;
  };

  it('keeps records across a restart (a new instance on the same file), deletes included', async () => {
    const file = journal();
    const a = new LocalStore({ file });
    await a.set('conversation', { threadId: 'thread_1' });
    await a.set('gone', 1);
    await a.delete('gone');
    await a.listPush('q', ['x']);
    await a.close();
    const b = reopen(file);
    expect(await b.get('conversation')).toEqual({ threadId: 'thread_1' });
    expect(await b.get('gone')).toBeUndefined();
    expect(await b.listRange('q', 0, -1)).toEqual(['x']);
  });

  it('a write resolves once its line is in the file: a process killed right after loses nothing', async () => {
    const file = journal();
    const a = new LocalStore({ file });
    opened.push(a);
    await a.set('acked', { event: 'Ev1' });
    // no close(): read the file as the next process would after a kill -9
    const b = reopen(file);
    expect(await b.get('acked')).toEqual({ event: 'Ev1' });
  });

  it('a save appends the change, not the store: at 10,000 records one set grows the file by one line', async () => {
    const file = journal();
    const s = reopen(file);
    await Promise.all(Array.from({ length: 10_000 }, (_, i) => s.set(`conversation:${i}`, { threadId: `thread_${i}`, at: i })));
    const before = statSync(file).size;
    await s.set('conversation:42', { threadId: 'thread_42b', at: 42 });
    const grown = statSync(file).size - before;
    expect(grown).toBeGreaterThan(0);
    expect(grown).toBeLessThan(120); // one line, where keyv-file rewrote about 600 KB
  });

  it('compacts a journal that is mostly overwritten lines, and reads back the same records', async () => {
    const file = journal();
    const s = new LocalStore({ file, compactBytes: 4_096 });
    for (let i = 0; i < 500; i++) await s.set(`k${i % 5}`, { i });
    await s.delete('k4');
    expect(statSync(file).size).toBeLessThan(8_192 + 200); // 500 lines of about 40 bytes would be 20 KB
    await s.close();
    const again = reopen(file);
    expect(await again.get('k0')).toEqual({ i: 495 });
    expect(await again.get('k3')).toEqual({ i: 498 });
    expect(await again.get('k4')).toBeUndefined();
  });

  it('expires a record by its TTL, across a restart too', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const file = journal();
      const s = new LocalStore({ file });
      await s.set('short', 'lived', 60_000);
      await s.set('long', 'lived', 3_600_000);
      vi.setSystemTime(Date.now() + 61_000);
      expect(await s.get('short')).toBeUndefined();
      expect(await s.get('long')).toBe('lived');
      await s.close();
      const again = reopen(file);
      expect(await again.get('short')).toBeUndefined();
      expect(await again.get('long')).toBe('lived');
      vi.setSystemTime(Date.now() + 3_600_000);
      expect(await again.get('long')).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });

  it('skips a last line torn by a crash mid-write, and appends after it cleanly', async () => {
    const file = journal();
    const a = new LocalStore({ file });
    await a.set('whole', 1);
    await a.close();
    appendFileSync(file, '{"k":"threadline:torn","v":"{\\"value\\":');
    const b = new LocalStore({ file });
    expect(b.journal!.skippedLines).toBe(1);
    expect(await b.get('whole')).toBe(1);
    await b.set('after', 2);
    await b.close();
    const c = reopen(file);
    expect(await c.get('after')).toBe(2);
    expect(await c.get('whole')).toBe(1);
  });

  it('imports the keyv-file JSON of earlier releases once, expired records left behind', async () => {
    const dir = tempDir();
    const legacyFile = join(dir, 'threadline.json');
    const old = new Keyv({ store: new KeyvFile({ filename: legacyFile, writeDelay: 0 }), namespace: 'threadline' });
    await old.set('conversation:slack:T1:C1:1.0', { threadId: 'thread_old' });
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() - 3_600_000); // a claim made an hour ago, for a minute
    await old.set('claim:Ev9', 1, 60_000);
    vi.useRealTimers();
    await old.disconnect();
    const s = reopen(join(dir, 'threadline.jsonl'), { legacyFile });
    expect(await s.get('conversation:slack:T1:C1:1.0')).toEqual({ threadId: 'thread_old' });
    expect(await s.get('claim:Ev9')).toBeUndefined();
    expect(existsSync(join(dir, 'threadline.jsonl'))).toBe(true);
  });

  it('a write the disk refuses fails its caller (no silent loss), and the store goes on once there is room', async () => {
    const file = journal();
    const s = reopen(file);
    // the journal is opened at the first write: make that file a full disk (/dev/full answers ENOSPC)
    symlinkSync('/dev/full', file);
    await s.claim('Ev1', 60_000).then(
      () => expect.unreachable('the claim cannot have been recorded'),
      (err: unknown) => expect(err).toMatchObject({ code: 'ENOSPC' }),
    );
    // the claim did not happen: Slack's retry of that event must be able to claim it again
    expect(await s.get('claim:Ev1')).toBeUndefined();
    unlinkSync(file); // room again
    expect(await s.claim('Ev1', 60_000)).toBe(true);
    await s.set('kept', 2);
    const again = reopen(file);
    expect(await again.get('kept')).toBe(2);
    expect(await again.get('claim:Ev1')).toBe(1);
  });
});

describe('redis store', () => {
  it('namespaces keys under threadline-style prefixes and uses SET NX PX for claims (settling keeps the TTL)', async () => {
    const prefix = uniquePrefix('ns');
    const s = await redis(prefix);
    await s.set('rec', 1);
    await s.claim('e', 10_000);
    await s.settle('e', 99_000_000); // the claim keeps its own TTL
    const raw = createClient({ url: REDIS_URL });
    await raw.connect();
    const keys = await raw.keys(`${prefix}*`);
    const ttl = await raw.pTTL(`${prefix}claim:e`);
    await raw.close();
    expect(keys.sort()).toEqual([`${prefix}:rec`, `${prefix}claim:e`].sort());
    expect(ttl).toBeGreaterThan(5_000);
    expect(ttl).toBeLessThanOrEqual(10_000);
  });

  it('shares hit counts between instances, in counters that expire', async () => {
    const prefix = uniquePrefix('hits');
    const [a, b] = [await redis(prefix), await redis(prefix)];
    const now = Date.now();
    const counts = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).hit('ada', 60_000, now)));
    expect(counts.sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const raw = createClient({ url: REDIS_URL });
    await raw.connect();
    const keys = await raw.keys(`${prefix}hits:*`);
    const ttl = await raw.pTTL(keys[0]);
    await raw.close();
    expect(keys).toEqual([`${prefix}hits:ada:${Math.floor(now / 60_000)}`]);
    expect(ttl).toBeGreaterThan(60_000);
    expect(ttl).toBeLessThanOrEqual(120_000);
  });

  it('renews a held lock past its TTL, and two instances never hold it at once', async () => {
    const prefix = uniquePrefix('lock');
    const a = await redis(prefix);
    const b = await redis(prefix);
    const held = await a.lock('conv', { ttlMs: 150 });
    // b polls for well over the TTL: renewal must keep a's lock alive the whole time
    await expect(b.lock('conv', { ttlMs: 150, waitMs: 600 })).rejects.toBeInstanceOf(LockTimeoutError);
    expect(held.lost.aborted).toBe(false);
    await held.release();
    const next = await b.lock('conv', { ttlMs: 150, waitMs: 1_000 });
    await next.release();
  });

  it('never releases or renews with someone else token', async () => {
    const prefix = uniquePrefix('tok');
    const a = await redis(prefix);
    const held = await a.lock('conv', { ttlMs: 300 });
    const raw = createClient({ url: REDIS_URL });
    await raw.connect();
    // another holder takes over (as after an expiry)
    await raw.set(`${prefix}lock:conv`, 'someone-else', { expiration: { type: 'PX', value: 10_000 } });
    await new Promise<void>((resolve) => held.lost.addEventListener('abort', () => resolve(), { once: true }));
    await held.release();
    expect(await raw.get(`${prefix}lock:conv`)).toBe('someone-else');
    await raw.del(`${prefix}lock:conv`);
    await raw.close();
  });

  it('fails fast with a clear error when Redis is not there', async () => {
    await expect(RedisStore.connect({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 300 })).rejects.toMatchObject({ name: 'StoreUnavailableError' });
  });
});
