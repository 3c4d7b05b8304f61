import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { fixture, postSlack, fakeEnv } from '../app-harness.js';
import { startChild, type ChildThreadline } from '../child-process.js';
import { eventually, uniquePrefix } from '../helpers.js';
import { PrivateRedis } from '../ops/redis-server.js';

/** Redis goes away while events keep coming. */
let ds: FakeDashScope;
let slack: FakeSlack;
let redis: PrivateRedis;
let app: ChildThreadline;

beforeAll(async () => {
  [ds, slack, redis] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start(), new PrivateRedis().start()]);
  // one person sends all the traffic at once: per-person limits and Slack's pacing are not what this is about
  app = await startChild({ ...fakeEnv({ ds, slack }), REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('outage'), TURNS_PER_MINUTE: '0', TURNS_IN_FLIGHT: '0', SLACK_RATE_LIMITS: 'off' });
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await redis.stop();
  await Promise.all([ds.stop(), slack.stop()]);
});

describe('a Redis outage', () => {
  it('no crash, /readyz 503, no event in the outage is acknowledged (Slack retries), and every retry is answered once when Redis is back', async () => {
    const base = fixture('slack.json').mention;
    await redis.stop();
    const sent: Array<{ ts: string; body: Record<string, unknown> }> = [];
    // traffic during the outage, in channels of their own (Slack takes about one chat.postMessage a
    // second per channel, and Threadline keeps to it)
    while (sent.length < 40) {
      const ts = `${1798000000 + sent.length}.000100`;
      const body = { ...base, event_id: `EvO${sent.length}`, event: { ...base.event, ts, event_ts: ts, channel: `COUTAGE${sent.length}` } };
      const res = await postSlack(app.url, body);
      // not recorded, so not acknowledged: Slack sends it again (an acknowledged event it never would)
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBeTruthy();
      sent.push({ ts, body });
      expect((await fetch(`${app.url}/readyz`)).status).toBe(503);
      expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    }
    expect(app.child.exitCode).toBeNull();
    await redis.start();
    await eventually(async () => (await fetch(`${app.url}/readyz`)).status === 200, 20_000, 'ready again');
    // Slack's retries of the refused events: each answered, once
    ds.model = () => ({ text: 'answered after the outage' });
    for (const s of sent) expect((await postSlack(app.url, s.body, { retryNum: 1 })).status).toBe(200);
    // streamed, or (past chat.startStream's 20 a minute) posted and edited
    const replied = (c: { method: string; args: Record<string, any> }, ts: string) => (c.method === 'chat.startStream' || c.method === 'chat.postMessage') && c.args.thread_ts === ts;
    for (const s of sent) await slack.log.waitFor((c) => replied(c, s.ts), 40_000, `answer for ${s.ts}`);
    for (const s of sent) expect(slack.log.filter((c) => replied(c, s.ts))).toHaveLength(1);
    // and it works again
    ds.model = () => ({ text: 'back in business' });
    const ts = '1798009999.000100';
    await postSlack(app.url, { ...base, event_id: 'EvBack', event: { ...base.event, ts, event_ts: ts } });
    await slack.log.waitFor((c) => c.method === 'chat.startStream' && c.args.thread_ts === ts, 10_000);
  }, 120_000);
});
