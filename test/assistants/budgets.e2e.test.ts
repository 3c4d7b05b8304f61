import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { boot, fakeEnv, fixture, postSlack } from '../app-harness.js';
import { uniquePrefix } from '../helpers.js';

/**
 * Issue 16, budgets: tokens counted from each run's usage (the fake reports 15 a run), per person
 * and per channel per day, in Redis, so two instances share them.
 */
const mentionFixture = fixture('slack.json').mention;
let ds: FakeDashScope;
let slack: FakeSlack;
let a: Threadline;
let b: Threadline;
let n = 0;

function mention(channel: string, text: string, user: string) {
  const ts = `17720${String(++n).padStart(5, '0')}.000100`;
  return { ...mentionFixture, event_id: `EvBG${n}`, event: { ...mentionFixture.event, channel, user, ts, event_ts: ts, text: `<@U00FAKEBOT01> ${text}` } };
}
const replies = (ev: { event: { channel: string; ts: string } }) => slack.visible(ev.event.channel, ev.event.ts).join('\n');

beforeAll(async () => {
  [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
  ds.model = () => ({ text: 'answered' });
  const env = { ...fakeEnv({ ds, slack }), REDIS_PREFIX: uniquePrefix('budgets'), BUDGET_TOKENS_PER_USER_DAY: '30', BUDGET_TOKENS_PER_CHANNEL_DAY: '60' };
  a = await boot(env);
  b = await boot(env);
});
afterAll(async () => {
  await Promise.all([a?.stop(1_000), b?.stop(1_000)]);
  await Promise.all([ds.stop(), slack.stop()]);
});

describe('token budgets', () => {
  it('a person over their day budget is told when it resets, on any instance; the turn that spent it was answered whole', async () => {
    const first = mention('CBUDGET1', 'one', 'U00FAKEUSER1');
    const second = mention('CBUDGET1', 'two', 'U00FAKEUSER1');
    await postSlack(a.url, first);
    await a.slack!.idle();
    await postSlack(a.url, second);
    await a.slack!.idle();
    expect([replies(first), replies(second)]).toEqual(['answered', 'answered']);
    const runs = ds.runCreates().length;
    const third = mention('CBUDGET1', 'three', 'U00FAKEUSER1');
    await postSlack(b.url, third); // the other instance
    await b.slack!.idle();
    expect(ds.runCreates()).toHaveLength(runs);
    expect(replies(third)).toMatch(/^:warning: You have used your 30 tokens for today\. It resets at 00:00 UTC, in \d+ (h \d+ )?min\.$/);
  });

  it('a channel over its day budget stops everyone in it, and `usage` shows where things stand', async () => {
    for (const [i, user] of ['U00FAKEUSER2', 'U00FAKEUSER3', 'U00FAKEUSER4', 'U00FAKEUSER5'].entries()) {
      await postSlack(i % 2 ? a.url : b.url, mention('CBUDGET2', 'hello', user));
      await Promise.all([a.slack!.idle(), b.slack!.idle()]);
    }
    const refused = mention('CBUDGET2', 'more', 'U00FAKEUSER6');
    await postSlack(a.url, refused);
    await a.slack!.idle();
    expect(replies(refused)).toMatch(/^:warning: This channel has used its 60 tokens for today\./);
    const usage = mention('CBUDGET2', 'usage', 'U00FAKEUSER2');
    await postSlack(b.url, usage);
    await b.slack!.idle();
    expect(replies(usage)).toBe('Today (UTC) you have used 15 tokens of 30; this channel 60 of 60.');
    expect(await (await fetch(`${a.url}/metrics`)).text()).toMatch(/threadline_tokens_total\{assistant="default",kind="input"\} [1-9]/);
  });
});
