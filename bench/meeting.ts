/**
 * Meeting capture: N lines at R lines/s into one Slack meeting (Threadline in its own process,
 * Redis store): DashScope requests used for the capture, lines lost (must be 0), and the lag from
 * a message being posted to the Message.create that carries it.
 */
import { signSlackBody } from '../adapters/slack/verify.js';
import { FakeDashScope } from '../test/fakes/dashscope.js';
import { FakeSlack } from '../test/fakes/slack.js';
import { startChild } from '../test/child-process.js';
import { log, percentile, round } from './lib.js';
// the signing secret and environment the tests give Threadline against the fakes
import { SIGNING_SECRET as SECRET, fakeEnv } from '../test/app-harness.js';

export interface MeetingResult {
  lines: number;
  ratePerSec: number;
  captureRequests: number;
  linesLost: number;
  outOfOrder: number;
  lagMs: { p50: number; p99: number; max: number };
  minutesRuns: number;
}

export async function benchMeeting(opts: { lines: number; rate: number; redisUrl: string }): Promise<MeetingResult> {
  log(`meeting: ${opts.lines} lines at ${opts.rate}/s`);
  const [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
  ds.model = () => ({ text: '## Summary\nok' });
  const app = await startChild({
    ...fakeEnv({ ds, slack }),
    REDIS_URL: opts.redisUrl,
    REDIS_PREFIX: `threadline-bench:${Date.now()}:`,
  });
  const post = (body: string, form = false) =>
    fetch(`${app.url}/slack/events`, { method: 'POST', headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json', ...signSlackBody(SECRET, body) }, body });
  const command = (text: string) =>
    new URLSearchParams({
      command: '/assistant',
      text,
      team_id: 'T00FAKE00AA',
      channel_id: 'CMEET',
      user_id: 'U1',
      trigger_id: `t${Date.now()}${Math.random()}`,
      response_url: 'http://127.0.0.1:9/',
    }).toString();
  try {
    await post(command('notes start Benchmark'), true);
    await slack.log.waitFor((c) => c.method === 'chat.postMessage' && String(c.text).includes('Taking notes'));
    // checkpoints move the meeting to a fresh Assistant thread now and then: look at all of its threads
    const creates = () =>
      ds.log.filter((c) => c.method === 'POST' && /\/threads\/[^/]+\/messages$/.test(c.path) && String(ds.threads.get(c.path.split('/')[2])?.metadata?.conversation ?? '').startsWith('meeting:'));
    const sentAt: number[] = [];
    await new Promise<void>((resolve) => {
      let i = 0;
      const started = performance.now();
      const tick = () => {
        // send what is due by now, so the rate holds even when a timer fires late
        const due = Math.min(opts.lines, Math.floor(((performance.now() - started) / 1000) * opts.rate) + 1);
        for (; i < due; i++) {
          const ts = `${1_800_000_000 + i}.000100`;
          const body = JSON.stringify({
            token: 'x',
            api_app_id: 'A00FAKEAPP01',
            type: 'event_callback',
            team_id: 'T00FAKE00AA',
            authorizations: [{ user_id: 'U00FAKEBOT01', team_id: 'T00FAKE00AA', is_bot: true }],
            event_id: `EvM${i}`,
            event: { type: 'message', user: `U${i % 7}`, text: `line ${i} of the meeting`, ts, channel: 'CMEET', event_ts: ts, channel_type: 'channel' },
          });
          sentAt[i] = performance.now();
          void post(body);
        }
        if (i >= opts.lines) resolve();
        else setTimeout(tick, 10);
      };
      tick();
    });
    const seen = (): number[] =>
      creates().flatMap((c) =>
        String(c.body.content)
          .split('\n')
          .map((l) => Number(/line (\d+) of/.exec(l)?.[1] ?? -1)),
      );
    await ds.log.waitFor(() => seen().length >= opts.lines, 120_000, 'all lines captured');
    const lag: number[] = [];
    for (const c of creates()) {
      for (const l of String(c.body.content).split('\n')) {
        const n = Number(/line (\d+) of/.exec(l)?.[1] ?? -1);
        if (n >= 0) lag.push(c.hr! - sentAt[n]);
      }
    }
    const got = seen();
    const unique = new Set(got);
    let outOfOrder = 0;
    for (let k = 1; k < got.length; k++) if (got[k] < got[k - 1]) outOfOrder++;
    const captureRequests = creates().length;
    await post(command('notes stop'), true);
    await slack.log.waitFor((c) => c.method === 'files.completeUploadExternal', 60_000, 'minutes');
    return {
      lines: opts.lines,
      ratePerSec: opts.rate,
      captureRequests,
      linesLost: opts.lines - unique.size,
      outOfOrder,
      lagMs: { p50: round(percentile(lag, 50), 0), p99: round(percentile(lag, 99), 0), max: round(Math.max(...lag), 0) },
      minutesRuns: ds.runCreates().filter((c) => String(c.body.instructions ?? '').includes('minutes')).length,
    };
  } finally {
    await app.stop();
    await Promise.all([ds.stop(), slack.stop()]);
  }
}
