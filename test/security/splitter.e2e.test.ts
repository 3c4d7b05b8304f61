import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeDiscord } from '../fakes/discord.js';
import { FakeSlack } from '../fakes/slack.js';
import { boot, fixture, postSlack, fakeEnv, discordDm } from '../app-harness.js';

/**
 * Issue 19, finding 1: model output that used to send the splitter into an endless loop (the
 * process died of OOM, Slack and Discord with it) or flood a channel with hundreds of messages.
 */
const dmSlack = fixture('dm-slack.json');

let ds: FakeDashScope;
let slack: FakeSlack;
let discord: FakeDiscord;
let app: Threadline;
let n = 0;

/** A DM in a channel of its own each time. */
function dmToBot(text: string) {
  return discordDm(discord.nextId(), `14600000000000${String(++n).padStart(5, '0')}`, text);
}

function slackDm(text: string) {
  const ts = `17673770${String(++n).padStart(2, '0')}.000100`;
  return { ...dmSlack.dmMessage, event_id: `EvSplit${n}`, event: { ...dmSlack.dmMessage.event, channel: `D0SPLIT${n}`, ts, event_ts: ts, text } };
}

beforeAll(async () => {
  [ds, slack, discord] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start(), new FakeDiscord().start()]);
  // SLACK_AGENT_VIEW off: a DM's top level is posted and edited, the path that split with splitMessage and looped
  app = await boot({ ...fakeEnv({ ds, slack, discord }), DISCORD_GUILD_ID: discord.guildId, SLACK_AGENT_VIEW: 'false' });
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([ds.stop(), slack.stop(), discord.stop()]);
});
beforeEach(() => {
  slack.streaming = true;
});

const fenceLine = '```' + 'x'.repeat(2100);
const longFenceOpen = '```' + 'p'.repeat(4000) + '\nprint(1)\n```';

describe('a reply that used to crash the splitter', () => {
  it('Discord DM: a 2,100-character fence line arrives in a few messages, whole, and the service stays up', async () => {
    ds.model = () => ({ text: ['Here:\n', fenceLine, '\nbye'] });
    const msg = dmToBot('hi');
    discord.dispatch('MESSAGE_CREATE', msg);
    await discord.rest.waitFor((c) => c.route === `/channels/${msg.channel_id}/messages` && c.method === 'POST');
    await app.discord!.idle();
    const seen = discord.visible(msg.channel_id);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.length).toBeLessThanOrEqual(3);
    expect(seen.join('').replace(/\n/g, '')).toBe(`Here:${fenceLine}bye`);
    expect(discord.rest.filter((c) => c.result && (c.result as { code?: number }).code === 50035)).toHaveLength(0);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });

  it('Discord DM: an opening fence line longer than the budget is text', async () => {
    ds.model = () => ({ text: longFenceOpen });
    const msg = dmToBot('again');
    discord.dispatch('MESSAGE_CREATE', msg);
    await discord.rest.waitFor((c) => c.route === `/channels/${msg.channel_id}/messages` && c.method === 'POST');
    await app.discord!.idle();
    const seen = discord.visible(msg.channel_id);
    expect(seen.length).toBeLessThanOrEqual(3);
    expect(seen.join('').replace(/\n/g, '')).toBe(longFenceOpen.replace(/\n/g, ''));
  });

  it('Slack DM: the same fence line is posted in a few messages and the service stays up', async () => {
    ds.model = () => ({ text: ['Here:\n', fenceLine, '\nbye'] });
    const ev = slackDm('hi');
    expect((await postSlack(app.url, ev)).status).toBe(200);
    await slack.log.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === ev.event.channel);
    await app.slack!.idle();
    const posts = slack.repliesIn(ev.event.channel);
    expect(posts.length).toBeGreaterThanOrEqual(1);
    expect(posts.length).toBeLessThanOrEqual(3);
    const shown = posts.map((c) => slack.log.filter((u) => u.method === 'chat.update' && u.args.ts === c.result?.ts).at(-1)?.text ?? c.text).join('');
    expect(shown.replace(/\n/g, '')).toContain('x'.repeat(2100));
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });

  it('Discord: a reply of 120,000 characters is at most ten messages, with the whole answer attached', async () => {
    const huge = Array.from({ length: 60 }, (_, i) => `${i} ${'word '.repeat(399)}end`).join('\n\n');
    ds.model = () => ({ text: huge });
    const msg = dmToBot('write a lot');
    discord.dispatch('MESSAGE_CREATE', msg);
    await discord.rest.waitFor((c) => c.route === `/channels/${msg.channel_id}/messages` && c.method === 'POST');
    await app.discord!.idle();
    const posts = discord.posts(msg.channel_id);
    expect(posts.length).toBeLessThanOrEqual(10);
    const attached = discord.rest.calls.flatMap((c) => c.files).find((f) => f.name === 'answer.md');
    expect(attached?.bytes.toString()).toBe(huge);
    expect(discord.visible(msg.channel_id).at(-1)).toMatch(/attached as answer\.md/);
  });

  it('Slack thread: a streamed reply of 160,000 characters stops at ten messages and attaches the whole answer', async () => {
    const huge = Array.from({ length: 80 }, (_, i) => `${i} ${'word '.repeat(399)}end`).join('\n\n');
    ds.model = () => ({ text: huge.match(/[\s\S]{1,5000}/g)! });
    const base = fixture('slack.json').mention;
    const ts = '1767390000.000001';
    await postSlack(app.url, { ...base, event_id: 'EvHuge', event: { ...base.event, ts, event_ts: ts, text: '<@U00FAKEBOT01> write a lot' } });
    await slack.log
      .waitFor((c) => c.method === 'upload', 10_000)
      .catch((e) => {
        throw new Error(`${(e as Error).message}: ${slack.log.calls.map((c) => c.method + ':' + JSON.stringify(c.result).slice(0, 80)).join('\n')}`);
      });
    await app.slack!.idle();
    expect(slack.repliesIn(base.event.channel, ts).length).toBeLessThanOrEqual(10);
    const file = [...slack.uploads.values()].find((u) => u.filename === 'answer.md');
    expect(file?.bytes.toString()).toBe(huge);
  });
});
