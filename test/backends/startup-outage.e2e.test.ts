import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { boot, fakeEnv, fixture, postSlack } from '../app-harness.js';
import { eventually } from '../helpers.js';

/** DashScope failing at boot used to exit the process ("startup failed"): on Fly, a restart loop. */
let ds: FakeDashScope;
let slack: FakeSlack;
let app: Threadline;

beforeAll(async () => {
  [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([ds.stop(), slack.stop()]);
});

describe('startup while DashScope is down', () => {
  it('serves /healthz, answers /readyz 503 naming assistant and Slack 503, then takes events once DashScope answers', async () => {
    // every bootstrap request fails until the test lets DashScope recover
    ds.faults = [{ kind: '503', match: (_m, path) => path.startsWith('/assistants'), times: 1_000 }];
    app = await boot(fakeEnv({ ds, slack }));
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${app.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { notReady: string[] }).notReady).toContain('assistant');
    const event = fixture('slack.json').mention;
    expect((await postSlack(app.url, event)).status).toBe(503); // Slack retries it
    expect(ds.runCreates()).toHaveLength(0);

    ds.faults = [];
    // no event marks the moment the back-off retry succeeds: poll readiness, as a load balancer would
    await eventually(async () => (await fetch(`${app.url}/readyz`)).status === 200, 15_000, 'ready after the outage');
    // Slack's retry of the very event it got a 503 for: not a duplicate, it was never taken
    expect((await postSlack(app.url, event, { retryNum: 1 })).status).toBe(200);
    await app.slack!.idle();
    expect(slack.repliesIn(event.event.channel, event.event.ts)).toHaveLength(1);
  }, 30_000);
});
