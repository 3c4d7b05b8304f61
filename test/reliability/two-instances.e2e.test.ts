import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { fixture, postSlack, fakeEnv } from '../app-harness.js';
import { startChild, type ChildThreadline } from '../child-process.js';
import { createClient } from '@redis/client';
import { REDIS_URL, eventually, uniquePrefix } from '../helpers.js';

/**
 * Two Threadline processes on one Redis receive the same Slack events, as behind a load
 * balancer with Slack's retries: one reply per message, never two runs on one Assistant thread,
 * and the messages of one thread answered in order.
 */
let ds: FakeDashScope;
let slack: FakeSlack;
let a: ChildThreadline;
let b: ChildThreadline;
const prefix = uniquePrefix('two');

beforeAll(async () => {
  [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
  // a storm from one person: the per-person limits (on by default) are not what this is about
  const env = { ...fakeEnv({ ds, slack }), REDIS_URL, REDIS_PREFIX: prefix, TURNS_PER_MINUTE: '0', TURNS_IN_FLIGHT: '0' };
  [a, b] = await Promise.all([startChild(env), startChild(env)]);
}, 60_000);
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await Promise.all([ds.stop(), slack.stop()]);
});

describe('two instances, one Redis', () => {
  it('one reply per message, zero overlapping runs, and each thread answered in order', async () => {
    // the model takes a little while, so messages pile up during runs
    ds.model = ({ newUserMessages }) => ({ text: [`answer to: `, newUserMessages.join(' + ')], delayMs: 15 });
    const base = fixture('slack.json');
    const threads = ['1796000000.000100', '1796000001.000100', '1796000002.000100'];
    const deliveries: Array<Promise<Response>> = [];
    let expectedMessages = 0;
    for (const [t, threadTs] of threads.entries()) {
      // the mention that opens the thread, delivered to both instances and retried
      const opening = { ...base.mention, event_id: `EvOpen${t}`, event: { ...base.mention.event, ts: threadTs, event_ts: threadTs, text: `<@U00FAKEBOT01> thread ${t} message 0` } };
      deliveries.push(postSlack(a.url, opening), postSlack(b.url, opening), postSlack(b.url, opening, { retryNum: 1 }));
      expectedMessages++;
    }
    // Slack gets its 200 before a message is queued, and Slack itself does not promise order across
    // deliveries; "in order" means in the order Threadline received them. So each round is sent once
    // the previous one has been received (queued in Redis, or already added to its Assistant thread).
    const redis = createClient({ url: REDIS_URL });
    await redis.connect();
    const received = async () => {
      const seen = new Set<string>(ds.messageCreates().map((c) => /thread \d+ message \d+/.exec(String(c.body.content))?.[0] ?? ''));
      for (const threadTs of threads) {
        for (const item of await redis.lRange(`${prefix}list:turns:slack:T00FAKE00AA:C00FAKECHAN1:${threadTs}`, 0, -1)) seen.add(/thread \d+ message \d+/.exec(item)?.[0] ?? '');
      }
      seen.delete('');
      return seen.size;
    };
    await Promise.all(deliveries.splice(0));
    await eventually(async () => (await received()) >= expectedMessages, 10_000, 'round 0 received');
    for (let i = 1; i <= 4; i++) {
      for (const [t, threadTs] of threads.entries()) {
        const ts = `${1796000100 + t * 10 + i}.000100`;
        const text = `<@U00FAKEBOT01> thread ${t} message ${i}`;
        const ev = { ...base.followUp, event_id: `Ev${t}-${i}`, event: { ...base.followUp.event, ts, event_ts: ts, thread_ts: threadTs, text } };
        // each delivery lands on a random instance, and half of them are retried on the other
        const [first, second] = (t + i) % 2 ? [a, b] : [b, a];
        deliveries.push(postSlack(first.url, ev));
        if (i % 2) deliveries.push(postSlack(second.url, ev, { retryNum: 1 }));
        // an app_mention twin of the same message, as Slack sends for mentions
        deliveries.push(postSlack(second.url, { ...ev, event_id: `EvM${t}-${i}`, event: { ...ev.event, type: 'app_mention' } }));
        expectedMessages++;
      }
      await Promise.all(deliveries.splice(0));
      await eventually(async () => (await received()) >= expectedMessages, 10_000, `round ${i} received`);
    }
    await redis.close();
    // every message reaches DashScope exactly once
    await ds.log.waitFor(() => ds.messageCreates().length >= expectedMessages, 30_000, 'all messages');
    // and every message has been answered (a stream stopped with its text in it)
    const answeredIn = (threadTs: string) =>
      slack
        .calls('chat.startStream')
        .filter((c) => c.args.thread_ts === threadTs && slack.calls('chat.stopStream').some((x) => x.args.ts === c.result?.ts))
        .map(
          (c) =>
            String(c.args.markdown_text) +
            slack
              .calls('chat.appendStream')
              .filter((x) => x.args.ts === c.result?.ts)
              .map((x) => x.args.markdown_text)
              .join(''),
        )
        .join('\n');
    const allAnswered = () => threads.every((threadTs, t) => Array.from({ length: 5 }, (_, i) => `thread ${t} message ${i}`).every((m) => answeredIn(threadTs).includes(m)));
    await slack.log.waitFor(() => allAnswered(), 30_000, 'all replies');
    expect(ds.messageCreates()).toHaveLength(expectedMessages);
    expect(ds.overlapAttempts).toBe(0);
    expect(ds.maxConcurrentRunsPerThread).toBe(1);
    for (const [t, threadTs] of threads.entries()) {
      // the thread's messages reached its Assistant thread in the order they were sent
      const assistantThread = [...ds.threads.values()].find((x) => x.metadata?.conversation?.endsWith(threadTs))!;
      const order = assistantThread.messages.filter((m) => m.role === 'user').map((m) => Number(/message (\d+)/.exec(m.content[0].text.value)![1]));
      expect(order).toEqual([...order].sort((x, y) => x - y));
      expect(order).toHaveLength(5);
      // one reply per run, none doubled: every user message is covered by exactly one answer
      const answered = answeredIn(threadTs);
      for (let i = 0; i < 5; i++) expect(answered.split(`thread ${t} message ${i}`).length - 1).toBe(1);
    }
  });
});
