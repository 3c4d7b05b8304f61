import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeDiscord } from '../fakes/discord.js';
import { discordDm, fakeEnv } from '../app-harness.js';
import { startChild, type ChildThreadline } from '../child-process.js';
import { createClient } from '@redis/client';
import { REDIS_URL, eventually, uniquePrefix } from '../helpers.js';

/**
 * kill -9 while a Discord reply is going out, then a restart: the reply is completed in the
 * messages it was being posted in (each part is created with an enforced nonce, so a create that
 * may have landed is found again), not posted again below and not apologised for (issue 21).
 */

/** How long a restarted process may take to pick a turn up: the dead one's lock lapses within 10 s. */
const RESTART_MS = 25_000;
let ds: FakeDashScope;
let discord: FakeDiscord;
let env: Record<string, string>;
let app: ChildThreadline | undefined;
let channels = 0;

beforeAll(async () => {
  [ds, discord] = await Promise.all([new FakeDashScope().start(), new FakeDiscord().start()]);
  // a restart identifies again at once: Discord's 5 s between two identifies is the shard tests' subject, not this file's
  discord.identifyWindowMs = 0;
  env = { ...fakeEnv({ ds, discord }), REDIS_URL, REDIS_PREFIX: uniquePrefix('dcrash'), LOG_LEVEL: 'info' };
});
// every test ends with no Threadline running (one left over would take over the next test's turns)
afterEach(async () => {
  await app?.stop();
  app = undefined;
  discord.hold = undefined;
});
afterAll(async () => {
  await Promise.all([ds.stop(), discord.stop()]);
});

async function start(): Promise<ChildThreadline> {
  const child = await startChild(env);
  await child.waitForOutput(/running a shard/, 15_000);
  return child;
}

/** A DM in a channel of its own; returns the channel. */
function dm(text: string): string {
  const channel = String(1_470_000_000_000_000_000n + BigInt(++channels));
  discord.dispatch('MESSAGE_CREATE', discordDm(discord.nextId(), channel, text));
  return channel;
}

/** The messages the conversation record says the reply is in (its place), as the store holds it now. */
async function placeOf(channel: string): Promise<string[] | undefined> {
  const redis = await createClient({ url: REDIS_URL }).connect();
  try {
    const raw = await redis.get(`${env.REDIS_PREFIX}:conversation:discord:dm:${channel}`);
    return raw ? (JSON.parse(raw) as { value?: { placed?: { messages?: string[] } } }).value?.placed?.messages : undefined;
  } finally {
    redis.destroy();
  }
}

const creates = (channel: string) => discord.rest.filter((c) => c.method === 'POST' && c.route === `/channels/${channel}/messages`);
const said = (channel: string, text: RegExp) => creates(channel).filter((c) => text.test(String(c.body?.content)));

/** Kills the process once `held` was logged, restarts it, and waits for the turn to settle (the reply's final text visible). */
async function killAndRestart(held: () => Promise<unknown>, release: () => void, channel: string, whole: string): Promise<void> {
  await held();
  await app!.kill();
  release();
  discord.hold = undefined;
  app = await start();
  await eventually(() => discord.visible(channel).join('') === whole, RESTART_MS, 'the whole answer in place').catch((e: Error) => {
    throw new Error(`${e.message}: ${JSON.stringify(discord.visible(channel))}\n${app?.output()}`);
  });
}

describe('kill -9 while a Discord reply goes out', () => {
  it('mid-reply: the restart puts the whole answer in the message that was posted, and posts nothing below', async () => {
    app = await start();
    let go!: () => void;
    ds.model = () => ({ text: ['The first words', ' and the rest of the answer.'], holdAfterFirstDelta: new Promise<void>((r) => (go = r)) });
    const channel = dm('say something');
    const first = await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${channel}/messages` && c.result?.id, 15_000, 'the first words posted');
    // the record knows the message (the reply's place) once its create came back
    const kept = () => eventually(async () => (await placeOf(channel))?.[0] === first.result.id, 10_000, 'the place kept');
    await killAndRestart(kept, () => go(), channel, 'The first words and the rest of the answer.');
    // one edit of it after the restart, no second message
    expect(discord.rest.filter((c) => c.method === 'PATCH' && c.route.endsWith(`/messages/${first.result.id}`)).at(-1)?.body.content).toBe('The first words and the rest of the answer.');
    expect(discord.posts(channel)).toHaveLength(1);
    expect(said(channel, /⚠️/)).toEqual([]);
  }, 60_000);

  it('while the final edit had landed and its answer had not come back: edited again, nothing else', async () => {
    app = await start();
    let go!: () => void;
    let release!: () => void;
    ds.model = () => ({ text: ['Part one,', ' part two.'], holdAfterFirstDelta: new Promise<void>((r) => (go = r)) });
    const channel = dm('two parts please');
    const created = await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${channel}/messages` && c.result?.id, 15_000, 'the first part posted');
    discord.hold = { method: 'PATCH', route: new RegExp(`/channels/${channel}/messages/${created.result.id}$`), until: new Promise<void>((r) => (release = r)), landed: true };
    go();
    await killAndRestart(
      () => discord.rest.waitFor((c) => c.method === 'PATCH.held' && c.body?.content === 'Part one, part two.', 15_000, 'the final edit held'),
      release,
      channel,
      'Part one, part two.',
    );
    expect(discord.posts(channel)).toHaveLength(1);
    expect(said(channel, /⚠️|restarted/)).toEqual([]);
  }, 60_000);

  it('while its only message was being created (landed, unanswered): the nonce finds that message, no second one', async () => {
    app = await start();
    let release!: () => void;
    ds.model = () => ({ text: 'A short answer.' });
    discord.hold = { method: 'POST', route: /\/channels\/\d+\/messages$/, until: new Promise<void>((r) => (release = r)), landed: true };
    const channel = dm('short please');
    await killAndRestart(() => discord.rest.waitFor((c) => c.method === 'POST.held' && c.route === `/channels/${channel}/messages`, 15_000, 'the create held'), release, channel, 'A short answer.');
    // two creates with one nonce, one message
    const tries = creates(channel);
    expect(tries.length).toBeGreaterThanOrEqual(2);
    expect(new Set(tries.map((c) => c.body?.nonce))).toEqual(new Set([tries[0].body.nonce]));
    expect(tries.every((c) => c.body?.enforce_nonce === true)).toBe(true);
    expect(discord.posts(channel)).toHaveLength(1);
    expect(said(channel, /⚠️|restarted/)).toEqual([]);
  }, 60_000);
});
