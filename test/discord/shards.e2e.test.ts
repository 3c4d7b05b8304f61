import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeDiscord } from '../fakes/discord.js';
import { boot, fakeEnv, discordDm } from '../app-harness.js';
import { startChild, type ChildThreadline } from '../child-process.js';
import { REDIS_URL, eventually, tempDir, uniquePrefix } from '../helpers.js';

/**
 * Discord shards over several instances (issue 20): one bot token, two shards, two instances on
 * one Redis. The fake routes events as Discord does (a server's to (guild_id >> 22) % shards, DMs
 * to shard 0), refuses an IDENTIFY past max_concurrency per 5 s with op 9, and counts sessions
 * per shard. DMs are built from the recorded guild mention (channel-discord.json).
 */
// Instances starting together wait half of it before taking shards (room for one booting slower
// under load); and five seconds is Discord's identify window, so the shard's first IDENTIFY never
// holds back its takeover (it ends first): what is measured is the lease.
const LEASE_MS = 6_000;

let ds: FakeDashScope;
let discord: FakeDiscord;
const children: ChildThreadline[] = [];
const apps: Threadline[] = [];

/** Sends a DM and waits for its reply in that DM; returns how many replies the DM channel has. */
async function dmAnswered(channelId: string, text: string): Promise<void> {
  discord.dispatch('MESSAGE_CREATE', discordDm(discord.nextId(), channelId, text));
  await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${channelId}/messages`, 15_000, `reply in ${channelId}`);
}

beforeAll(async () => {
  ds = await new FakeDashScope().start();
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill()));
  await Promise.all(apps.splice(0).map((a) => a.stop(1_000)));
  await discord?.stop();
});
afterAll(async () => {
  await ds.stop();
});

describe('Discord shards on Redis', () => {
  it('two instances, two shards: each shard identified once, every DM answered once; after kill -9 the other takes the shard within the lease', async () => {
    discord = await new FakeDiscord().start();
    discord.recommendedShards = 2;
    discord.maxConcurrency = 2; // one bucket per shard: the takeover is timed without the identify throttle in it
    const env = {
      ...fakeEnv({ ds, discord }),
      REDIS_URL,
      REDIS_PREFIX: uniquePrefix('shards'),
      DISCORD_SHARDS: 'auto',
      DISCORD_SHARD_LEASE: `${LEASE_MS}ms`,
      LOG_LEVEL: 'info',
      TURNS_PER_MINUTE: '0',
      TURNS_IN_FLIGHT: '0',
    };
    const [a, b] = await Promise.all([startChild({ ...env, DATA_DIR: tempDir('sa') }), startChild({ ...env, DATA_DIR: tempDir('sb') })]);
    children.push(a, b);
    await eventually(() => discord.sessionsByShard().size === 2, 15_000, 'both shards running');
    // each shard identified exactly once, on different instances, none refused, never two sessions of one shard
    expect(discord.identifies.map((i) => i.shard).sort()).toEqual([0, 1]);
    expect(discord.identifies.every((i) => i.accepted && i.count === 2)).toBe(true);
    const holder = (c: ChildThreadline, shard: number) => new RegExp(`"shard":${shard},"of":2[^\\n]*running a shard`).test(c.output());
    await Promise.all([a, b].map((c) => c.waitForOutput(/running a shard/)));
    const first = holder(a, 0) ? a : b;
    const other = first === a ? b : a;
    expect(holder(first, 0) && holder(other, 1)).toBe(true);

    // DMs reach shard 0's instance only, and each is answered once
    for (let i = 0; i < 3; i++) await dmAnswered(`14600000000000001${i}`, `question ${i}`);
    for (let i = 0; i < 3; i++) expect(discord.posts(`14600000000000001${i}`)).toHaveLength(1);

    // kill -9 the instance running shard 0: the other identifies it within the lease
    await first.kill();
    const killedAt = Date.now();
    const leased = JSON.parse((/^.*"shard":0,"of":2[^\n]*took the lease.*$/m.exec(await other.waitForOutput(/"shard":0,"of":2[^\n]*took the lease/, 15_000)) ?? [''])[0]) as { time: string };
    const leasedAfter = Date.parse(leased.time) - killedAt;
    expect(leasedAfter).toBeLessThan(LEASE_MS);
    // and identifies it within the lease (the IDENTIFY's round trip included)
    await eventually(() => discord.identifies.some((i) => i.shard === 0 && i.at > killedAt && i.accepted), 15_000, 'shard 0 identified again');
    const identifiedAfter = discord.identifies.find((i) => i.shard === 0 && i.at > killedAt)!.at - killedAt;
    expect(identifiedAfter).toBeLessThan(LEASE_MS);
    await other.waitForOutput(/"shard":0,"of":2[^\n]*running a shard/);
    expect(discord.sessionsByShard()).toEqual(
      new Map([
        [0, 1],
        [1, 1],
      ]),
    );
    expect(discord.maxSessionsPerShard).toBe(1);
    await dmAnswered('1460000000000000200', 'still there?');
    expect(discord.posts('1460000000000000200')).toHaveLength(1);
    expect((await fetch(`${other.url}/readyz`)).status).toBe(200);
  }, 60_000);

  it('a third instance is a healthy standby; shards in one identify bucket identify 5 s apart across instances, none refused', async () => {
    discord = await new FakeDiscord().start();
    discord.recommendedShards = 2; // max_concurrency 1 (Discord's default): both shards in bucket 0
    const env = { ...fakeEnv({ ds, discord }), REDIS_PREFIX: uniquePrefix('shard-bucket'), DISCORD_SHARDS: '2', DISCORD_SHARD_LEASE: `${LEASE_MS}ms` };
    apps.push(...(await Promise.all([boot(env), boot(env), boot(env)])));
    await eventually(() => discord.sessionsByShard().size === 2, 20_000, 'both shards running');
    const accepted = discord.identifies.filter((i) => i.accepted);
    expect(discord.identifies.every((i) => i.accepted)).toBe(true);
    expect(accepted).toHaveLength(2);
    expect(accepted[1].at - accepted[0].at).toBeGreaterThanOrEqual(5_000 - 50);
    // one instance holds no shard, and says it is ready
    const held = apps.map((a) => a.discord!.shards().length).sort();
    expect(held).toEqual([0, 1, 1]);
    for (const a of apps) expect((await fetch(`${a.url}/readyz`)).status).toBe(200);
    // a reply the standby finishes (a turn it adopted, or resumed after a restart) reaches the server channel over REST
    const standby = apps.find((a) => a.discord!.shards().length === 0)!;
    const channel = discord.channels[0];
    await standby.discord!.sinkFor({ platform: 'discord', channel }).finish({ text: 'from the standby', images: [] });
    expect(discord.visible(channel)).toContain('from the standby');
  }, 60_000);

  it('without Redis one instance runs every shard through discord.js (DISCORD_SHARDS=2), answering a DM', async () => {
    discord = await new FakeDiscord().start();
    discord.maxConcurrency = 2;
    const app = await boot({ ...fakeEnv({ ds, discord }), REDIS_URL: '', DISCORD_SHARDS: '2' });
    apps.push(app);
    expect(app.store.kind).toBe('file');
    await eventually(() => discord.sessionsByShard().size === 2, 15_000, 'both shards running');
    expect(app.discord!.shards()).toEqual([0, 1]);
    expect(discord.identifies.map((i) => i.shard).sort()).toEqual([0, 1]);
    await dmAnswered('1460000000000000300', 'one instance, two shards');
    expect(discord.posts('1460000000000000300')).toHaveLength(1);
  }, 30_000);
});
