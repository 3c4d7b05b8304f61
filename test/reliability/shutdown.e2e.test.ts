import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@redis/client';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { fixture, postSlack, fakeEnv } from '../app-harness.js';
import { startChild, type ChildThreadline } from '../child-process.js';
import { REDIS_URL, eventually, uniquePrefix } from '../helpers.js';

/**
 * A deploy's graceful stop (SIGTERM) that cannot wait for a reply to finish: the next start
 * completes the reply in the message it was streaming in, as after a crash (issue 21).
 */

/** How long a restarted process may take to pick a turn up: the stopped one's lock lapses within 10 s. */
const RESTART_MS = 25_000;
let ds: FakeDashScope;
let slack: FakeSlack;
let env: Record<string, string>;
let app: ChildThreadline | undefined;

beforeAll(async () => {
  [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
  // a stop waits a second for turns in flight, then leaves them for the next start
  env = { ...fakeEnv({ ds, slack }), REDIS_URL, REDIS_PREFIX: uniquePrefix('shutdown'), LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT: '1s' };
});
afterEach(async () => {
  await app?.stop();
  app = undefined;
});
afterAll(async () => {
  await Promise.all([ds.stop(), slack.stop()]);
});

/** The conversation record of thread `ts`, as the store holds it. */
async function recordOf(ts: string): Promise<string> {
  const redis = await createClient({ url: REDIS_URL }).connect();
  try {
    let key: string | undefined;
    for await (const keys of redis.scanIterator({ MATCH: `${env.REDIS_PREFIX.replace(/:$/, '')}::conversation:*:${ts}` })) key ??= keys[0];
    return key ? String(await redis.get(key)) : '';
  } finally {
    redis.destroy();
  }
}

describe('a graceful stop while a reply streams', () => {
  it('the next start puts the whole answer in the streamed message and posts nothing below it', async () => {
    app = await startChild(env);
    let release!: () => void;
    ds.model = () => ({ text: ['the first words of a long reply', ' and the rest'], holdAfterFirstDelta: new Promise<void>((r) => (release = r)) });
    const base = fixture('slack.json').mention;
    const ts = '1767392500.000001';
    await postSlack(app.url, { ...base, event_id: 'EvStoppedStreaming', event: { ...base.event, ts, event_ts: ts, text: '<@U00FAKEBOT01> say something' } });
    await slack.log.waitFor((c) => c.method === 'chat.startStream' && c.args.thread_ts === ts, 15_000, 'the stream started');
    await eventually(async () => (await recordOf(ts)).includes('"placed":{'), 10_000, 'the place kept');
    // SIGTERM: the turn cannot finish within SHUTDOWN_TIMEOUT and is left for the next start
    expect(await app.stop()).toBe(0);
    app = undefined;
    release();
    expect(await recordOf(ts)).not.toContain('"delivering"');
    app = await startChild(env);
    await app.waitForOutput(/completing in place a reply the last process left at shutdown/, RESTART_MS);
    const channel = base.event.channel;
    await eventually(() => slack.visible(channel, ts).join('|') === 'the first words of a long reply and the rest', RESTART_MS, 'the whole answer in place').catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(slack.visible(channel, ts))}\n${app?.output()}`);
    });
    // one message in the thread, the one that streamed: stopped, then its text replaced
    expect(slack.log.filter((c) => ['chat.postMessage', 'chat.startStream'].includes(c.method) && c.args.thread_ts === ts).map((c) => c.method)).toEqual(['chat.startStream']);
    expect(slack.calls('chat.update').filter((c) => c.result?.ok)).toHaveLength(1);
  }, 60_000);
});
