import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeDiscord } from '../fakes/discord.js';
import { boot, fakeEnv, discordDm } from '../app-harness.js';
import { metric } from '../child-process.js';

/**
 * Discord's per-route limits on the fake (a long answer is several messages in one channel):
 * discord.js waits each limit out per route; Threadline counts them in /metrics. The fake answers
 * past the limit with 429 and retry_after, and records any request inside the refused window.
 */
const PARAGRAPH = 'Shards spread the gateway over machines, and each keeps its own lease in Redis. '.repeat(6).trim();
const ANSWER = Array.from({ length: 16 }, (_, i) => `${i + 1}. ${PARAGRAPH}`).join('\n\n'); // about 7,700 characters: four messages

let ds: FakeDashScope;
let discord: FakeDiscord;
let app: Threadline | undefined;

async function limited(kind: string): Promise<number> {
  const text = await (await fetch(`${app!.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('threadline_discord_rate_limited_total{') && l.includes(`kind="${kind}"`))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}

beforeAll(async () => {
  ds = await new FakeDashScope().start();
  ds.model = () => ({ text: ANSWER });
});
afterEach(async () => {
  await app?.stop(1_000);
  app = undefined;
  await discord?.stop();
});
afterAll(() => ds.stop());

/** Two messages a second per channel on the fake; a DM asking for the long answer; resolves once all of it is posted. */
async function longAnswerUnderLimit(channel: string, headers: boolean): Promise<void> {
  discord = await new FakeDiscord().start();
  discord.messageLimit = { limit: 2, windowMs: 1_000, headers };
  app = await boot(fakeEnv({ ds, discord }));
  discord.dispatch('MESSAGE_CREATE', discordDm(discord.nextId(), channel, 'tell me about shards'));
  await discord.rest.waitFor((_c, all) => all.filter((c) => c.method === 'POST' && c.route === `/channels/${channel}/messages` && c.result?.id).length >= 4, 20_000, 'four parts');
  await app.discord!.idle();
}

describe('Discord rate limits', () => {
  it('a long answer past the channel limit (429s without headers): every part arrives once, in order, none inside a refused window', async () => {
    const channel = '1463000000000000001';
    await longAnswerUnderLimit(channel, false);
    const shown = discord.visible(channel);
    expect(shown.length).toBeGreaterThanOrEqual(4);
    expect(shown.every((m) => m.length <= 2_000)).toBe(true);
    expect(shown.join('').replace(/\s+/g, '')).toBe(ANSWER.replace(/\s+/g, ''));
    expect(discord.rest.filter((c) => c.route === `/channels/${channel}/messages` && c.method === 'POST' && c.result?.retry_after !== undefined).length).toBeGreaterThan(0);
    expect(discord.penaltyViolations).toEqual([]);
    expect(await limited('429')).toBeGreaterThan(0);
  }, 30_000);

  it("with Discord's X-RateLimit headers the client waits before it is refused: no 429 at all, the wait is counted", async () => {
    const channel = '1463000000000000002';
    await longAnswerUnderLimit(channel, true);
    expect(discord.visible(channel).join('').replace(/\s+/g, '')).toBe(ANSWER.replace(/\s+/g, ''));
    expect(discord.rest.filter((c) => c.result?.retry_after !== undefined)).toEqual([]);
    expect(await limited('waited')).toBeGreaterThan(0);
  }, 30_000);

  it("Discord's global limit (every route refused) lowers the turns run at once; the answer still arrives once, and successes bring the limit back", async () => {
    discord = await new FakeDiscord().start();
    app = await boot({ ...fakeEnv({ ds, discord }), TURN_CONCURRENCY: '8' });
    const concurrency = async () => metric(await (await fetch(`${app!.url}/metrics`)).text(), 'threadline_turn_concurrency');
    expect(await concurrency()).toBe(8);
    ds.model = () => ({ text: 'short answer' });
    // one request every 500 ms for the whole bot: the turn's typing and its message cannot both pass
    discord.globalLimit = { limit: 1, windowMs: 500 };
    const ask = async (channel: string) => {
      discord.dispatch('MESSAGE_CREATE', discordDm(discord.nextId(), channel, 'a question'));
      await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${channel}/messages` && !!c.result?.id, 15_000, `answer in ${channel}`);
      await app!.discord!.idle();
      return discord.visible(channel);
    };
    expect(await ask('1463000000000000003')).toEqual(['short answer']);
    expect(discord.globalRefusals).toBeGreaterThan(0);
    // halved once per refused second (4, or 2 when the retry after the wait is refused too)
    expect(await concurrency()).toBeLessThanOrEqual(4);
    // the limit lifts; each answered turn is a few successful DashScope calls, and the limit climbs back
    discord.globalLimit = undefined;
    let n = 0;
    while ((await concurrency()) < 8 && n < 40) expect(await ask(`14630000000000001${String(++n).padStart(2, '0')}`)).toEqual(['short answer']);
    expect(await concurrency()).toBe(8);
  }, 60_000);
});
