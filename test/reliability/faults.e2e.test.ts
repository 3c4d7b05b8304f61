import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope, type Fault } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { boot, fixture, postSlack, fakeEnv } from '../app-harness.js';

/**
 * DashScope faults through the whole service: every message ends in exactly one reply or one
 * clear failure message in its own thread, and nothing crashes.
 */
let ds: FakeDashScope;
let slack: FakeSlack;
let app: Threadline;
const mention = fixture('slack.json').mention;
let n = 0;

function event(text = 'hello') {
  const ts = `${1_795_000_000 + ++n}.000100`;
  return { body: { ...mention, event_id: `EvF${n}`, event: { ...mention.event, ts, event_ts: ts, text: `<@U00FAKEBOT01> ${text}` } }, ts };
}

/** What the person saw in the thread: the final reply text, or the failure message. */
function endings(ts: string): string[] {
  const out: string[] = [];
  for (const c of slack.log.calls) {
    if (c.method === 'chat.stopStream' && slack.calls('chat.startStream').some((s) => s.args.thread_ts === ts && s.result?.ts === c.args.ts)) out.push('reply');
    if (c.method === 'chat.postMessage' && c.args.thread_ts === ts && String(c.text).startsWith(':warning:')) out.push(String(c.text));
  }
  return out;
}

beforeAll(async () => {
  [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
  app = await boot({ ...fakeEnv({ ds, slack }), RUN_TIMEOUT: '1s' });
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([ds.stop(), slack.stop()]);
});

const runCreate = (m: string, p: string) => m === 'POST' && /\/runs$/.test(p);
const anyGet = (m: string) => m === 'GET';

describe('DashScope faults', () => {
  it.each<[string, Fault[], (() => void) | undefined, RegExp | 'reply']>([
    ['429 with Retry-After on run create, then success', [{ kind: '429', retryAfter: 0, match: runCreate }], undefined, 'reply'],
    ['429 that never ends', [{ kind: '429', retryAfter: 0, times: 10, match: runCreate }], undefined, /too many requests/],
    ['500 on run create', [{ kind: '500', match: runCreate }], undefined, /could not reach the model service/],
    ['connection reset on run create', [{ kind: 'reset', match: runCreate }], undefined, /could not reach the model service/],
    [
      'a stream cut mid-way (then polling, with 503s on the polls)',
      [
        { kind: 'cut-stream', afterDeltas: 1 },
        { kind: '503', match: anyGet, times: 2 },
      ],
      () => (ds.model = () => ({ text: ['a ', 'b ', 'c'] })),
      'reply',
    ],
    ['an error event in the stream', [{ kind: 'error-event' }], undefined, /could not reach the model service/],
    ['a failed run', [], () => (ds.model = () => ({ fail: { code: 'server_error', message: 'internal' } })), /Something went wrong/],
    ['a run that never finishes (deadline, cancel, told)', [], () => (ds.model = () => ({ hang: true })), /took too long/],
    ['content moderation', [], () => (ds.model = () => ({ fail: { code: 'DataInspectionFailed', message: 'x' } })), /content filter/],
  ])('%s', async (_name, faults, setup, expected) => {
    ds.model = ({ newUserMessages }) => ({ text: `ok ${newUserMessages.length}` });
    setup?.();
    ds.faults = faults.map((f) => ({ ...f }));
    const { body, ts } = event();
    expect((await postSlack(app.url, body)).status).toBe(200);
    await app.slack!.idle();
    const seen = endings(ts);
    expect(seen).toHaveLength(1);
    if (expected === 'reply') expect(seen[0]).toBe('reply');
    else expect(seen[0]).toMatch(expected);
    expect(JSON.stringify(slack.log.calls.filter((c) => c.args.thread_ts === ts))).not.toMatch(/sk-test-key|Throttling|request_id/);
    if (_name.startsWith('a run that never')) expect(ds.log.calls.some((c) => c.path.endsWith('/cancel'))).toBe(true);
    ds.faults = [];
  });

  it('a storm of 60 messages with random faults: each ends in exactly one reply or one failure message', async () => {
    const kinds: Array<Fault['kind'] | 'fail' | 'none'> = ['429', '500', '503', 'reset', 'cut-stream', 'error-event', 'fail', 'none', 'none', 'none'];
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const sent: string[] = [];
    let injected = 0;
    ds.model = ({ newUserMessages }) => (newUserMessages.some((m) => m.includes('[fail]')) ? { fail: { code: 'server_error', message: 'x' } } : { text: ['fine ', 'answer'] });
    for (let i = 0; i < 60; i++) {
      const kind = kinds[Math.floor(rand() * kinds.length)];
      if (kind !== 'none' && kind !== 'fail') {
        ds.faults.push(kind === 'cut-stream' || kind === 'error-event' ? { kind } : { kind, retryAfter: 0, match: kind === 'reset' || kind === '500' ? runCreate : undefined });
        injected++;
      }
      if (kind === 'fail') injected++;
      const { body, ts } = event(kind === 'fail' ? '[fail] please' : `message ${i}`);
      sent.push(ts);
      await postSlack(app.url, body);
    }
    await app.slack!.idle();
    ds.faults = [];
    const counts = sent.map((ts) => endings(ts));
    const replies = counts.filter((c) => c.length === 1 && c[0] === 'reply').length;
    const failures = counts.filter((c) => c.length === 1 && c[0] !== 'reply').length;
    const lost = counts.filter((c) => c.length === 0).length;
    const doubled = counts.filter((c) => c.length > 1).length;
    console.log(JSON.stringify({ report: 'fault storm', messages: sent.length, faultsInjected: injected, replies, failureMessages: failures, lost, doubled }));
    expect(lost).toBe(0);
    expect(doubled).toBe(0);
    expect(replies + failures).toBe(60);
    expect(replies).toBeGreaterThan(20);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });
});
