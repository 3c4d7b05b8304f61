import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { boot, fakeEnv, fixture, postSlack } from '../app-harness.js';

/**
 * A busy workspace under Slack's tiers: the fake answers 429 + Retry-After past each method's
 * limit and records any call made inside a penalty window it announced. Threadline runs its own
 * scheduler with Slack's published limits (not the unlimited test setting of the other suites).
 */
const base = fixture('slack.json').mention;
let ds: FakeDashScope;
let slack: FakeSlack;
let app: Threadline | undefined;

function mentionIn(channel: string, i: number) {
  const ts = `17690${String(i).padStart(5, '0')}.000100`;
  return { ...base, event_id: `EvRL${channel}${i}`, event: { ...base.event, channel, ts, event_ts: ts, text: `<@U00FAKEBOT01> question ${i}` } };
}
/** The whole reply a person sees in a thread, and how many messages carried it. */
function seen(channel: string, ts: string): { text: string; messages: number } {
  const msgs = slack.visible(channel, ts);
  return { text: msgs.join(''), messages: msgs.length };
}
const answer = (i: number) => Array.from({ length: 12 }, (_, k) => `part ${k} of answer ${i}. `).join('');

beforeEach(async () => {
  [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
  ds.model = ({ newUserMessages }) => {
    const i = Number(/question (\d+)/.exec(newUserMessages.join())![1]);
    return { text: answer(i).match(/.{1,20}/g)!, delayMs: 15 };
  };
});
afterEach(async () => {
  await app?.stop(1_000);
  app = undefined;
  await Promise.all([ds.stop(), slack.stop()]);
});

describe("Slack's rate limits", () => {
  it('a dozen threads at once all get their whole reply, each once; a 429 holds back only its method; no call lands in a penalty window', async () => {
    // stricter than Slack's published appendStream tier, so the fake really answers 429s
    slack.limits = {
      'chat.appendStream': { limit: 3, windowMs: 1_000 },
      'chat.startStream': { limit: 20, windowMs: 60_000 },
      'chat.stopStream': { limit: 20, windowMs: 60_000 },
      'chat.postMessage': { limit: 1, windowMs: 1_000, perChannel: true },
      'chat.update': { limit: 50, windowMs: 60_000 },
    };
    app = await boot(fakeEnv({ ds, slack }), { testing: { webApiRetries: 0, editIntervalMs: 20 } });
    const events = Array.from({ length: 12 }, (_, i) => mentionIn(`CSTORM${i % 4}`, i));
    await Promise.all(events.map((e) => postSlack(app!.url, e)));
    await app.slack!.idle();
    for (const [i, e] of events.entries()) {
      const got = seen(e.event.channel, e.event.ts);
      expect(got.text).toBe(answer(i).trim());
      expect(got.messages).toBe(1);
    }
    expect(slack.penaltyViolations).toEqual([]);
    const limited = slack.log.filter((c) => c.method === 'chat.appendStream' && c.result?.error === 'ratelimited');
    expect(limited.length).toBeGreaterThan(0);
    expect(app.slack!.outbound.stats.rateLimited['chat.appendStream']).toBe(limited.length);
    // while appendStream sat out a penalty, other methods went on (any penalty: the first may come
    // when the other threads have nothing left to send but their appends)
    const duringPenalty = limited.flatMap((l) => slack.log.filter((c) => c.method !== 'chat.appendStream' && c.at >= l.at && c.at < l.at + 1_000));
    expect(duringPenalty.length).toBeGreaterThan(0);
  }, 60_000);

  it('when chat.startStream has no budget left, replies are posted and edited instead, at a pace Slack accepts', async () => {
    slack.limits = { 'chat.postMessage': { limit: 1, windowMs: 1_000, perChannel: true }, 'chat.update': { limit: 50, windowMs: 60_000 } };
    app = await boot(fakeEnv({ ds, slack }), { testing: { webApiRetries: 0, editIntervalMs: 20, slackRateLimits: { 'chat.startStream': { limit: 3, windowMs: 60_000 } } } });
    const events = Array.from({ length: 9 }, (_, i) => mentionIn(`CBUSY${i}`, 100 + i));
    for (const e of events) await postSlack(app.url, e);
    await app.slack!.idle();
    expect(slack.calls('chat.startStream')).toHaveLength(3);
    for (const e of events) {
      const got = seen(e.event.channel, e.event.ts);
      expect(got.text).toBe(answer(Number(/question (\d+)/.exec(e.event.text)![1])).trim());
      expect(got.messages).toBe(1);
    }
    expect(slack.penaltyViolations).toEqual([]);
    expect(slack.log.filter((c) => c.result?.error === 'ratelimited')).toEqual([]);
  }, 60_000);
});
