/**
 * Scale: 1,000 Slack conversations at once against a fake model that takes 2 s per run, with
 * Threadline in its own process (Redis store): all answered, no overlapping runs, peak RSS and
 * event-loop delay (sampled from /metrics every 250 ms).
 */
import { signSlackBody } from '../adapters/slack/verify.js';
import { FakeDashScope } from '../test/fakes/dashscope.js';
import { FakeSlack } from '../test/fakes/slack.js';
import { metric, startChild } from '../test/child-process.js';
import { log, round } from './lib.js';
// the signing secret and environment the tests give Threadline against the fakes
import { SIGNING_SECRET as SECRET, fakeEnv } from '../test/app-harness.js';

export interface ScaleResult {
  conversations: number;
  answered: number;
  overlappingRuns: number;
  maxRunsPerThread: number;
  seconds: number;
  idleRssMB: number;
  peakRssMB: number;
  peakHeapUsedMB: number;
  eventLoopDelayP99MaxMs: number;
}

export async function benchScale(opts: { conversations: number; redisUrl: string; nodeOptions?: string; compiled?: string }): Promise<ScaleResult & { nodeOptions: string; build: string }> {
  log(`scale: ${opts.conversations} conversations${opts.nodeOptions ? ` (${opts.nodeOptions})` : ''}${opts.compiled ? ' (compiled)' : ''}`);
  const [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
  ds.model = () => ({ text: 'done after two seconds', until: new Promise((r) => setTimeout(r, 2_000)) });
  const app = await startChild(
    {
      ...(opts.nodeOptions ? { NODE_OPTIONS: opts.nodeOptions } : {}),
      ...fakeEnv({ ds, slack }),
      REDIS_URL: opts.redisUrl,
      REDIS_PREFIX: `threadline-bench:${Date.now()}:`,
      // a load test from few people in one channel: the per-person limits and Slack's tiers would pace it, not measure it
      TURNS_PER_MINUTE: '0',
      TURNS_IN_FLIGHT: '0',
      SLACK_RATE_LIMITS: 'off',
    },
    { compiled: opts.compiled },
  );
  let peakRss = 0;
  let peakLag = 0;
  let peakHeap = 0;
  const idle = await fetch(`${app.url}/metrics`).then((r) => r.text());
  const idleRss = metric(idle, 'threadline_process_resident_memory_bytes');
  const sample = async () => {
    // a missed sample (the server busy past the fetch) only leaves the peak where it was
    const text = await fetch(`${app.url}/metrics`)
      .then((r) => r.text())
      .catch(() => '');
    peakRss = Math.max(peakRss, metric(text, 'threadline_process_resident_memory_bytes') || 0);
    peakLag = Math.max(peakLag, metric(text, 'threadline_nodejs_eventloop_lag_p99_seconds') || 0);
    peakHeap = Math.max(peakHeap, metric(text, 'threadline_nodejs_heap_size_used_bytes') || 0);
  };
  const sampler = setInterval(() => void sample(), 250);
  const t0 = performance.now();
  try {
    const events = Array.from({ length: opts.conversations }, (_, i) => {
      const ts = `${1_790_000_000 + i}.000100`;
      const event = { type: 'app_mention', user: `U${1000 + (i % 50)}`, text: '<@U00FAKEBOT01> hi', ts, channel: `C${100 + (i % 20)}`, event_ts: ts };
      return JSON.stringify({
        token: 'x',
        api_app_id: 'A00FAKEAPP01',
        type: 'event_callback',
        team_id: 'T00FAKE00AA',
        authorizations: [{ user_id: 'U00FAKEBOT01', team_id: 'T00FAKE00AA', is_bot: true }],
        event_id: `Ev${i}`,
        event,
      });
    });
    for (let i = 0; i < events.length; i += 100) {
      await Promise.all(
        events.slice(i, i + 100).map((body) => fetch(`${app.url}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...signSlackBody(SECRET, body) }, body })),
      );
    }
    await slack.log.waitForCount((c) => c.method === 'chat.stopStream', opts.conversations, 180_000, 'all answers');
    const seconds = (performance.now() - t0) / 1000;
    return {
      nodeOptions: opts.nodeOptions ?? '(defaults)',
      build: opts.compiled ? 'compiled (node dist/)' : 'source (node --import tsx)',
      conversations: opts.conversations,
      answered: new Set(slack.calls('chat.startStream').map((c) => `${c.args.channel}:${c.args.thread_ts}`)).size,
      overlappingRuns: ds.overlapAttempts,
      maxRunsPerThread: ds.maxConcurrentRunsPerThread,
      seconds: round(seconds, 1),
      idleRssMB: round(idleRss / 2 ** 20, 0),
      peakRssMB: round(peakRss / 2 ** 20, 0),
      peakHeapUsedMB: round(peakHeap / 2 ** 20, 0),
      eventLoopDelayP99MaxMs: round(peakLag * 1000, 1),
    };
  } finally {
    clearInterval(sampler);
    await app.stop();
    await Promise.all([ds.stop(), slack.stop()]);
  }
}
