import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { fixture, postSlack, fakeEnv } from '../app-harness.js';
import { startChild, type ChildThreadline } from '../child-process.js';
import { eventually, uniquePrefix } from '../helpers.js';
import { PrivateRedis } from '../ops/redis-server.js';

/** Redis goes away for 10 s while events keep coming. */
let ds: FakeDashScope;
let slack: FakeSlack;
let redis: PrivateRedis;
let app: ChildThreadline;

beforeAll(async () => {
  [ds, slack, redis] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start(), new PrivateRedis().start()]);
  app = await startChild({ ...fakeEnv({ ds, slack }), REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('outage') });
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await redis.stop();
  await Promise.all([ds.stop(), slack.stop()]);
});

describe('a 10-second Redis outage', () => {
  it('no crash, /readyz 503, every event in the outage gets a clear answer, ready again by itself', async () => {
    const base = fixture('slack.json').mention;
    await redis.stop();
    const started = Date.now();
    const sent: string[] = [];
    // traffic for the whole outage: an event about every 250 ms for 10 s, in channels of their own
    // (Slack takes about one chat.postMessage a second per channel, and Threadline keeps to it)
    while (Date.now() - started < 10_000) {
      const ts = `${1798000000 + sent.length}.000100`;
      const res = await postSlack(app.url, { ...base, event_id: `EvO${sent.length}`, event: { ...base.event, ts, event_ts: ts, channel: `COUTAGE${sent.length}` } });
      expect(res.status).toBe(200);
      sent.push(ts);
      expect((await fetch(`${app.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
      await eventually(() => slack.calls('chat.postMessage').some((c) => c.args.thread_ts === ts), 5_000, `answer for ${ts}`);
    }
    for (const ts of sent) {
      const told = slack.calls('chat.postMessage').filter((c) => c.args.thread_ts === ts);
      expect(told).toHaveLength(1);
      expect(told[0].text).toMatch(/memory store is not answering/);
    }
    expect(app.child.exitCode).toBeNull();
    await redis.start();
    await eventually(async () => (await fetch(`${app.url}/readyz`)).status === 200, 20_000, 'ready again');
    // and it works again
    ds.model = () => ({ text: 'back in business' });
    const ts = '1798009999.000100';
    await postSlack(app.url, { ...base, event_id: 'EvBack', event: { ...base.event, ts, event_ts: ts } });
    await slack.log.waitFor((c) => c.method === 'chat.startStream' && c.args.thread_ts === ts, 10_000);
    expect(sent.length).toBeGreaterThanOrEqual(20);
  }, 60_000);
});
