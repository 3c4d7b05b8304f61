import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeDiscord } from '../fakes/discord.js';
import { FakeSlack } from '../fakes/slack.js';
import { boot, fakeEnv, fixture, postSlack, discordDm } from '../app-harness.js';

/** Issue 19, finding 2: model output (or a person's text the bot repeats) must never ping a channel. */
const HOSTILE = 'Ping <!channel> and <!here|here>, [click](!everyone), @everyone, @here, <@U00FAKEUSER2> and <#C00FAKECHAN2>.';
const PINGS = /<!(channel|here|everyone)|<@U|<#C|(?<!\u200b)@(everyone|here|channel)\b/;

let ds: FakeDashScope;
let slack: FakeSlack;
let discord: FakeDiscord;
let app: Threadline;

beforeAll(async () => {
  [ds, slack, discord] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start(), new FakeDiscord().start()]);
  app = await boot({ ...fakeEnv({ ds, slack, discord }), DISCORD_GUILD_ID: discord.guildId, SLACK_AGENT_VIEW: 'false' });
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([ds.stop(), slack.stop(), discord.stop()]);
});

/** Every piece of text the bot sent to Slack. */
const slackTexts = () => slack.log.calls.flatMap((c) => [c.text, c.args.markdown_text].filter((t): t is string => typeof t === 'string'));

describe('mass mentions', () => {
  it('Slack: a streamed reply, a posted DM reply and a meeting title carry no ping', async () => {
    ds.model = () => ({ text: HOSTILE.match(/.{1,7}/g)! }); // cut into pieces, so a mention is split across appends
    const base = fixture('slack.json').mention;
    await postSlack(app.url, { ...base, event_id: 'EvPing1', event: { ...base.event, ts: '1769900000.000100', event_ts: '1769900000.000100' } });
    const dm = fixture('dm-slack.json').dmMessage;
    await postSlack(app.url, { ...dm, event_id: 'EvPing2', event: { ...dm.event, ts: '1769900001.000100', event_ts: '1769900001.000100' } });
    const slash = fixture('slash-commands-slack.json').slashCommand;
    await postSlack(
      app.url,
      { ...slash, command: '/assistant', text: 'notes start [standup](!channel) <!here>', team_id: 'T00FAKE00AA', channel_id: 'C00PINGMEET', user_id: 'U00FAKEUSER1', trigger_id: 'trig-ping' },
      { form: true },
    );
    await app.slack!.idle();
    expect(slack.calls('chat.startStream').length).toBeGreaterThan(0);
    expect(slackTexts().filter((t) => t.includes('Ping')).length).toBeGreaterThanOrEqual(2);
    expect(slackTexts().filter((t) => PINGS.test(t))).toEqual([]);
    // what the person sees still says it, with a zero-width space inside
    const streamed = slack.log
      .filter((c) => c.method === 'chat.startStream' || c.method === 'chat.appendStream')
      .map((c) => c.args.markdown_text)
      .join('');
    expect(streamed.replace(/\u200b/g, '')).toContain('@everyone');
    expect(slackTexts().some((t) => t.includes('standup'))).toBe(true);
  });

  it('Discord: every message is sent with allowed_mentions parse [] (no @everyone, no role, no user ping)', async () => {
    ds.model = () => ({ text: `@everyone @here <@1033044521375764530> <@&123456789012345678> ${HOSTILE}` });
    const msg = discordDm(discord.nextId(), '1460000000000088001', 'say it');
    discord.dispatch('MESSAGE_CREATE', msg);
    await discord.rest.waitFor((c) => c.route === `/channels/${msg.channel_id}/messages` && c.method === 'POST');
    await app.discord!.idle();
    const sends = discord.rest.filter((c) => (c.method === 'POST' || c.method === 'PATCH') && /\/messages/.test(c.route) && c.body?.content);
    expect(sends.length).toBeGreaterThan(0);
    for (const c of sends) expect(c.body.allowed_mentions).toMatchObject({ parse: [] });
    expect(discord.visible(msg.channel_id).join()).toContain('@everyone');
  });
});
