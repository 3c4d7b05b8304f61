import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeDiscord } from '../fakes/discord.js';
import { FakeSlack } from '../fakes/slack.js';
import { boot, fakeEnv, fixture, postSlack, discordDm } from '../app-harness.js';

/**
 * Property-based (issue 19): whatever the model writes, the service stays up, every turn ends in
 * one reply, no message is over the platform's limit, nothing pings, and no reply floods a thread.
 */
let ds: FakeDashScope;
let slack: FakeSlack;
let discord: FakeDiscord;
let app: Threadline;
let n = 0;

beforeAll(async () => {
  [ds, slack, discord] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start(), new FakeDiscord().start()]);
  app = await boot({ ...fakeEnv({ ds, slack, discord }), DISCORD_GUILD_ID: discord.guildId });
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([ds.stop(), slack.stop(), discord.stop()]);
});

const hostilePiece = fc.oneof(
  fc.constantFrom(
    '```',
    '~~~',
    '````python',
    '```' + 'q'.repeat(2_500),
    '`'.repeat(300),
    '\n',
    '\n\n',
    ' ',
    '```x```',
    '<!channel>',
    '<!here|here>',
    '@everyone',
    '@here',
    '<@U00FAKEUSER2>',
    '[x](!channel)',
    '[https://bank](https://evil.example)',
    '![img](http://169.254.169.254/a.png)',
    '<',
    '@',
  ),
  fc.string({ maxLength: 80 }),
  fc.constant('z'.repeat(2_100)),
  fc.constant('word '.repeat(500)),
);
const hostileReply = fc.array(hostilePiece, { minLength: 1, maxLength: 30 }).map((p) => p.join(''));
const PINGS = /<!(channel|here|everyone)|<@U|(?<!\u200b)@(everyone|here)\b/;

describe('hostile replies', () => {
  it('Slack and Discord: one reply each, within the limits, no pings, the process up', async () => {
    const base = fixture('slack.json').mention;
    await fc.assert(
      fc.asyncProperty(hostileReply, fc.integer({ min: 1, max: 40 }), async (reply, piece) => {
        ds.model = () => ({ text: reply.match(new RegExp(`[\\s\\S]{1,${piece}}`, 'g')) ?? [reply] });
        const ts = `17700${String(++n).padStart(5, '0')}.000100`;
        const mark = slack.log.calls.length;
        await postSlack(app.url, { ...base, event_id: `EvFz${n}`, event: { ...base.event, ts, event_ts: ts } });
        const dm = discordDm(discord.nextId(), `14700000000${String(n).padStart(8, '0')}`, 'go');
        const discordMark = discord.rest.calls.length;
        discord.dispatch('MESSAGE_CREATE', dm);
        await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${dm.channel_id}/messages`);
        await app.slack!.idle();
        await app.discord!.idle();
        const sent = slack.log.calls.slice(mark);
        const messages = sent.filter((c) => ['chat.postMessage', 'chat.startStream'].includes(c.method) && c.args.thread_ts === ts);
        expect(messages.length).toBeGreaterThanOrEqual(1);
        expect(messages.length).toBeLessThanOrEqual(10);
        for (const c of sent) if (typeof c.text === 'string') expect(c.text).not.toMatch(PINGS);
        for (const c of sent) if (c.method === 'chat.appendStream' && typeof c.args.markdown_text === 'string') expect(c.args.markdown_text).not.toMatch(PINGS);
        const posts = discord.rest.calls.slice(discordMark).filter((c) => (c.method === 'POST' || c.method === 'PATCH') && c.route.startsWith(`/channels/${dm.channel_id}/messages`));
        expect(posts.filter((c) => c.method === 'POST').length).toBeLessThanOrEqual(10);
        for (const c of posts) {
          expect(String(c.body?.content ?? '').length).toBeLessThanOrEqual(2_000);
          expect(c.body?.allowed_mentions).toMatchObject({ parse: [] });
        }
        expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
      }),
      { numRuns: 25 },
    );
  }, 120_000);
});
