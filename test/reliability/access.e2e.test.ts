import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeDiscord } from '../fakes/discord.js';
import { FakeSlack } from '../fakes/slack.js';
import { boot, fixture, postSlack, fakeEnv, discordDm } from '../app-harness.js';

/** Allowlists and the per-person rate limit. */
let ds: FakeDashScope;
let slack: FakeSlack;
let discord: FakeDiscord;
let app: Threadline;

beforeAll(async () => {
  [ds, slack, discord] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start(), new FakeDiscord().start()]);
  ds.model = () => ({ text: 'ok' });
  app = await boot({
    ...fakeEnv({ ds, slack }),
    SLACK_TEAM_IDS: 'T00FAKE00AA',
    SLACK_CHANNEL_IDS: 'C00FAKECHAN1',
    DISCORD_TOKEN: discord.token,
    DISCORD_API_URL: discord.apiBase,
    DISCORD_GUILD_IDS: discord.guildId,
    DISCORD_CHANNEL_IDS: '1459213904352645277',
    TURNS_PER_MINUTE: '2',
  });
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([ds.stop(), slack.stop(), discord.stop()]);
});

let n = 0;
function slackEvent(over: { team?: string; channel?: string; user?: string }) {
  const base = fixture('slack.json').mention;
  const ts = `${1799500000 + ++n}.000100`;
  return {
    ts,
    body: { ...base, team_id: over.team ?? base.team_id, event_id: `EvA${n}`, event: { ...base.event, ts, event_ts: ts, channel: over.channel ?? 'C00FAKECHAN1', user: over.user ?? `UQ${n}` } },
  };
}

describe('allowlists', () => {
  it('Slack: other workspaces and channels outside SLACK_CHANNEL_IDS are ignored; DMs in the workspace are answered', async () => {
    const runs = ds.runCreates().length;
    await postSlack(app.url, slackEvent({ team: 'T0OTHER' }).body);
    await postSlack(app.url, slackEvent({ channel: 'C0NOTLISTED' }).body);
    await app.slack!.idle();
    expect(ds.runCreates().length).toBe(runs);
    await postSlack(app.url, slackEvent({}).body);
    const dm = { ...fixture('dm-slack.json').dmMessage, event: { ...fixture('dm-slack.json').dmMessage.event, ts: '1799509999.000100' } };
    await postSlack(app.url, dm);
    await app.slack!.idle();
    expect(ds.runCreates().length).toBe(runs + 2);
  });

  it('Discord: other guilds and channels are ignored', async () => {
    const base = fixture('channel-discord.json').mention.data;
    const runs = ds.runCreates().length;
    discord.dispatch('MESSAGE_CREATE', { ...base, id: discord.nextId(), guild_id: '999999999999999999' });
    discord.dispatch('MESSAGE_CREATE', { ...base, id: discord.nextId(), channel_id: '1457510428359004343' });
    const ok = { ...base, id: discord.nextId() };
    discord.dispatch('MESSAGE_CREATE', ok);
    await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${ok.id}/messages`);
    await app.discord!.idle();
    expect(ds.runCreates().length).toBe(runs + 1);
  });

  it('Discord DMs with an allowlist: only members of an allowed server are answered; a stranger is told once, and runs nothing', async () => {
    const recorded = fixture('channel-discord.json').mention.data;
    const dm = (user: string, channel: string) => discordDm(discord.nextId(), channel, 'hi there', { author: { ...recorded.author, id: user } });
    discord.members.add('1033044521375764530');
    const runs = ds.runCreates().length;
    const stranger = dm('1200000000000000001', '1460000000000099001');
    discord.dispatch('MESSAGE_CREATE', stranger);
    await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${stranger.channel_id}/messages`);
    discord.dispatch('MESSAGE_CREATE', dm('1200000000000000001', '1460000000000099001'));
    const member = dm('1033044521375764530', '1460000000000099002');
    discord.dispatch('MESSAGE_CREATE', member);
    await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${member.channel_id}/messages`);
    await app.discord!.idle();
    expect(ds.runCreates().length).toBe(runs + 1);
    expect(discord.visible(stranger.channel_id)).toEqual(['I only answer people in the servers I am set up for. Please ask me there.']);
    expect(discord.visible(member.channel_id)).toEqual(['ok']);
  });
});

describe('rate limit', () => {
  it('a person past TURNS_PER_MINUTE gets a polite message instead of a run', async () => {
    const runs = ds.runCreates().length;
    const sent = [slackEvent({ user: 'URATE' }), slackEvent({ user: 'URATE' }), slackEvent({ user: 'URATE' })];
    for (const e of sent) await postSlack(app.url, e.body);
    await app.slack!.idle();
    expect(ds.runCreates().length).toBe(runs + 2);
    // the three arrive together, so any one of them may be the one over the limit
    const polite = slack.calls('chat.postMessage').filter((c) => sent.some((e) => e.ts === c.args.thread_ts) && /faster than I can answer/.test(String(c.text)));
    expect(polite).toHaveLength(1);
    // someone else is not affected
    await postSlack(app.url, slackEvent({ user: 'UOTHER' }).body);
    await app.slack!.idle();
    expect(ds.runCreates().length).toBe(runs + 3);
  });
});

describe('default limits', () => {
  it('25 mentions in a second from one person start 3 runs, not 25; the rest are told why, and every event is answered once', async () => {
    const own = await boot({ ...fakeEnv({ ds, slack }), TURNS_PER_MINUTE: undefined, TURNS_IN_FLIGHT: undefined });
    try {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      ds.model = () => ({ text: 'answered', until: gate });
      const runs = ds.runCreates().length;
      const events = Array.from({ length: 25 }, () => slackEvent({ user: 'U0BURSTER' }));
      await Promise.all(events.map((e) => postSlack(own.url, e.body)));
      await ds.log.waitForCount((c) => c.method === 'POST' && /\/runs$/.test(c.path), runs + 3, 10_000, 'three runs');
      // everyone beyond the three in flight has been told, before any run ended: 5 past the 20 a
      // minute, the other 17 because 3 of theirs are in flight
      const refused = (c: { method: string; text?: string }) => c.method === 'chat.postMessage' && /still answering your earlier 3 messages|faster than I can answer/.test(String(c.text));
      await slack.log.waitForCount(refused, 22, 10_000, 'refusals');
      expect(slack.log.filter((c) => refused(c) && /faster/.test(String(c.text)))).toHaveLength(5);
      release();
      await own.slack!.idle();
      expect(ds.runCreates().length - runs).toBe(3);
      for (const e of events) {
        const replies = slack.log.filter((c) => ['chat.postMessage', 'chat.startStream'].includes(c.method) && c.args.thread_ts === e.ts);
        expect(replies).toHaveLength(1);
      }
    } finally {
      await own.stop(1_000);
      ds.model = () => ({ text: 'ok' });
    }
  });
});
