import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { boot, fixture, postSlack, fakeEnv } from '../app-harness.js';
import { eventually, once } from '../helpers.js';
import { PrivateRedis } from './redis-server.js';

let ds: FakeDashScope;
let slack: FakeSlack;
let redis: PrivateRedis;
let app: Threadline;

beforeAll(async () => {
  [ds, slack, redis] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start(), new PrivateRedis().start()]);
  app = await boot({ ...fakeEnv({ ds, slack }), REDIS_URL: redis.url });
});
afterAll(async () => {
  await app?.stop(1_000);
  await redis.stop();
  await Promise.all([ds.stop(), slack.stop()]);
});

const ready = async () => (await fetch(`${app.url}/readyz`)).status;

describe('health and readiness', () => {
  it('/healthz answers while the process lives; /readyz is 200 once started', async () => {
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    expect(await ready()).toBe(200);
  });

  it('/readyz flips to 503 naming the store when Redis stops, and back to 200 by itself when it returns', async () => {
    await redis.stop();
    await eventually(async () => (await ready()) === 503, 10_000, '/readyz 503');
    const body = (await (await fetch(`${app.url}/readyz`)).json()) as { notReady: string[] };
    expect(body.notReady).toEqual(['store']);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    // an event during the outage is not acknowledged (it could not be recorded): Slack retries it, nothing crashes
    const during = { ...fixture('slack.json').mention, event: { ...fixture('slack.json').mention.event, ts: '1767500000.000001' } };
    expect((await postSlack(app.url, during)).status).toBe(503);
    await app.slack!.idle();
    expect(slack.repliesIn('C00FAKECHAN1', '1767500000.000001')).toEqual([]);
    await redis.start();
    await eventually(async () => (await ready()) === 200, 15_000, '/readyz 200 again');
  });
});

describe('metrics', () => {
  it('counts a turn: events received, the run by status, replies, durations', async () => {
    const ev = { ...fixture('slack.json').mention, event: { ...fixture('slack.json').mention.event, ts: '1767500000.000002' } };
    await postSlack(app.url, ev);
    await app.slack!.idle();
    const res = await fetch(`${app.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/threadline_events_received_total\{platform="slack",kind="message"\} [1-9]/);
    // nothing left over once the turn is answered: no turn in flight, no acknowledged event still open
    expect(text).toMatch(/^threadline_turns_in_flight 0$/m);
    expect(text).toMatch(/^threadline_intake_pending 0$/m);
    expect(text).toMatch(/threadline_runs_total\{status="completed"\} 1/);
    expect(text).toMatch(/threadline_replies_sent_total\{platform="slack",type="final"\} [1-9]/);
    expect(text).toMatch(/threadline_run_duration_seconds_count 1/);
    expect(text).toMatch(/threadline_time_to_first_text_seconds_count 1/);
    expect(text).toMatch(/threadline_dashscope_requests_total\{method="POST",status="200"\}/);
    expect(text).toMatch(/threadline_queue_depth 0/);
    expect(text).toMatch(/threadline_active_meetings 0/);
    expect(text).toMatch(/threadline_process_resident_memory_bytes/);
  });
});

describe('graceful stop in process', () => {
  it('lets a run in flight finish and post its reply, refusing new events meanwhile', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    ds.model = () => ({ text: 'finished after the stop began', until: gate });
    const ev = { ...fixture('slack.json').mention, event: { ...fixture('slack.json').mention.event, ts: '1767500000.000003' } };
    const started = once(app.engine, 'run-started');
    await postSlack(app.url, ev);
    await started;
    const stopping = app.stop(10_000);
    await eventually(async () => (await ready()) === 503, 5_000, 'not ready while stopping');
    expect((await postSlack(app.url, { ...ev, event: { ...ev.event, ts: '1767500000.000004' } })).status).toBe(503);
    release();
    expect(await stopping).toEqual({ finished: true });
    const text = slack
      .calls('chat.startStream')
      .filter((c) => c.args.thread_ts === '1767500000.000003')
      .map((c) => c.args.markdown_text)
      .join('');
    expect(text).toBe('finished after the stop began');
  });
});

describe('Fly.io configuration', () => {
  const root = join(import.meta.dirname, '..', '..');
  const fly = parse(readFileSync(join(root, 'fly.toml'), 'utf8')) as any;

  it('serves the internal port with a /healthz check, always on, and waits longer than the shutdown deadline', () => {
    expect(fly.http_service.internal_port).toBe(Number(fly.env.PORT));
    expect(fly.http_service.auto_stop_machines).toBe('off');
    expect(fly.http_service.min_machines_running).toBeGreaterThanOrEqual(1);
    expect(fly.http_service.checks[0]).toMatchObject({ method: 'GET', path: '/healthz' });
    expect(parseInt(fly.kill_timeout, 10)).toBeGreaterThan(parseInt(fly.env.SHUTDOWN_TIMEOUT, 10));
    // Fly scrapes the private metrics port, which is not the public one
    expect(fly.metrics.port).toBe(Number(fly.env.METRICS_PORT));
    expect(fly.metrics.port).not.toBe(fly.http_service.internal_port);
    expect(fly.kill_signal).toBe('SIGTERM');
    expect(fly.build.dockerfile).toBe('Dockerfile');
  });

  it("has a web group behind the HTTP service and a gateway group, both the image's command with THREADLINE_ROLES", () => {
    const docker = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const cmd = (JSON.parse(/^CMD (\[.*\])$/m.exec(docker)![1]) as string[]).join(' ');
    expect(fly.processes).toEqual({ web: `env THREADLINE_ROLES=web ${cmd}`, gateway: `env THREADLINE_ROLES=gateway ${cmd}` });
    expect(fly.http_service.processes).toEqual(['web']);
    expect(fly.checks.gateway_alive).toMatchObject({ path: '/healthz', processes: ['gateway'] });
  });

  it('has a multi-stage Node 20 slim Dockerfile that builds first, runs compiled JavaScript with production dependencies only, as non-root', () => {
    const docker = readFileSync(join(root, 'Dockerfile'), 'utf8');
    expect(docker.match(/^FROM node:20-slim/gm)).toHaveLength(3);
    expect(docker).toMatch(/RUN npm run build/);
    expect(docker).toMatch(/npm ci --omit=dev/);
    expect(docker).toMatch(/^CMD \["node", "--enable-source-maps", "dist\/src\/main\.js"\]$/m);
    expect(docker).not.toMatch(/tsx/);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    expect(pkg.dependencies.tsx).toBeUndefined(); // no TypeScript runner in the image
    expect(pkg.devDependencies.tsx).toBeDefined(); // npm start runs from source after npm install
    expect(docker).toMatch(/^USER node$/m);
    expect(docker).toMatch(/EXPOSE 8080/);
  });
});
