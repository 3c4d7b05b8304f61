import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { boot, fakeEnv, fixture, postSlack } from '../app-harness.js';

let ds: FakeDashScope;
let slack: FakeSlack;
let app: Threadline;

beforeAll(async () => {
  [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
  app = await boot({ ...fakeEnv({ ds, slack }), METRICS_PORT: '0', METRICS_HOST: '127.0.0.1', METRICS_TOKEN: 'scrape-token-1' });
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([ds.stop(), slack.stop()]);
});

describe('METRICS_PORT', () => {
  it('serves /metrics on its own port only: the public port answers 404, health checks stay there', async () => {
    expect(app.metricsUrl).toBeDefined();
    expect(app.metricsUrl).not.toBe(app.url);
    expect((await fetch(`${app.url}/metrics`, { headers: { authorization: 'Bearer scrape-token-1' } })).status).toBe(404);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
    // the private port serves nothing else
    expect((await fetch(`${app.metricsUrl}/healthz`)).status).toBe(404);
    expect((await fetch(`${app.metricsUrl}/slack/events`, { method: 'POST', body: '{}' })).status).toBe(404);
  });

  it('counts what happened on the public port, still behind METRICS_TOKEN', async () => {
    await postSlack(app.url, fixture('slack.json').mention);
    await app.slack!.idle();
    expect((await fetch(`${app.metricsUrl}/metrics`)).status).toBe(401);
    const res = await fetch(`${app.metricsUrl}/metrics`, { headers: { authorization: 'Bearer scrape-token-1' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/threadline_events_received_total\{platform="slack",kind="message"\} [1-9]/);
  });
});
