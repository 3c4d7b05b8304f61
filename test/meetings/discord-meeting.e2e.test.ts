import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { Meetings } from '../../src/engine/meetings/index.js';
import { RedisStore } from '../../src/store/index.js';
import { silentLogger } from '../../src/log.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeDiscord } from '../fakes/discord.js';
import { boot, fixture, fakeEnv } from '../app-harness.js';
import { REDIS_URL, uniquePrefix } from '../helpers.js';
import { meetingRuns, minutesModel } from './harness.js';

const mention = fixture('channel-discord.json').mention.data;
const CHANNEL = mention.channel_id;

let ds: FakeDashScope;
let discord: FakeDiscord;
let app: Threadline;
const prefix = uniquePrefix('dmeeting');

function env(extra: Record<string, string> = {}) {
  return { ...fakeEnv({ ds, discord }), REDIS_URL, REDIS_PREFIX: prefix, MEETING_BATCH: '20ms', ...extra };
}

const people = {
  ada: { ...mention.author, id: '1033044521375764531', username: 'ada', global_name: 'Ada' },
  grace: { ...mention.author, id: '1033044521375764532', username: 'grace', global_name: 'Grace' },
};

/** A person's message in the channel, shaped like the recorded MESSAGE_CREATE. */
function say(author: typeof people.ada, content: string) {
  return { ...mention, id: discord.nextId(), author, content, mentions: [], member: { ...mention.member, nick: null } };
}

function notes(action: string, title?: string, user = people.ada) {
  return {
    id: discord.nextId(),
    application_id: discord.botId,
    type: 2,
    token: `tok-${discord.nextId()}`,
    version: 1,
    guild_id: discord.guildId,
    channel_id: CHANNEL,
    channel: { id: CHANNEL, type: 0, guild_id: discord.guildId, name: 'channel-1' },
    member: { user, roles: [], permissions: '0', joined_at: new Date().toISOString(), deaf: false, mute: false, flags: 0 },
    data: { id: '1', name: 'notes', type: 1, options: [{ name: 'action', type: 3, value: action }, ...(title ? [{ name: 'title', type: 3, value: title }] : [])] },
    app_permissions: '2248473465835073',
    locale: 'en-US',
    entitlements: [],
    authorizing_integration_owners: {},
    context: 0,
  };
}

async function interact(payload: ReturnType<typeof notes>) {
  discord.dispatch('INTERACTION_CREATE', payload);
  await discord.rest.waitFor((c) => c.route === `/interactions/${payload.id}/${payload.token}/callback`);
  await app.discord!.idle();
  return discord.rest.filter((c) => c.route.includes(payload.token) && c.method === 'PATCH').at(-1)?.body;
}

beforeAll(async () => {
  ds = await new FakeDashScope().start();
  discord = await new FakeDiscord().start();
  minutesModel(ds);
  app = await boot(env());
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([ds.stop(), discord.stop()]);
});

describe('a meeting in a Discord channel', () => {
  it('starts with /notes start, captures speakers in order, skips !off, runs once at stop and attaches the minutes', async () => {
    const started = await interact(notes('start', 'Design review'));
    expect(started.content).toMatch(/Taking notes for \*\*Design review\*\*, started by Ada/);
    const ids = [say(people.ada, 'We keep the blue theme'), say(people.grace, '!off brb'), say(people.grace, 'Grace will update the mockups by Monday')];
    for (const m of ids) discord.dispatch('MESSAGE_CREATE', m);
    const thread = [...ds.threads.values()].find((t) => t.metadata?.conversation === `meeting:discord:${discord.guildId}:${CHANNEL}`)!;
    const linesIn = () =>
      ds
        .messageCreates(thread.id)
        .flatMap((c) => String(c.body.content).split('\n'))
        .map((l) => l.replace(/^\[\d\d:\d\d\] /, ''));
    // the batch flusher adds the captured lines to the meeting's Assistant thread
    await ds.log.waitFor(() => linesIn().length >= 2);
    await app.discord!.idle();
    const lines = linesIn();
    expect(lines).toEqual(['Ada: We keep the blue theme', 'Grace: Grace will update the mockups by Monday']);
    expect(ds.runCreates()).toHaveLength(0);

    const status = await interact(notes('status'));
    expect(status.content).toMatch(/started by Ada: 2 lines captured/);

    const refused = await interact(notes('stop', undefined, people.grace));
    expect(refused.content).toMatch(/Only Ada/);

    await interact(notes('stop'));
    expect(meetingRuns(ds, 'minutes')).toHaveLength(1);
    expect(ds.runCreates()).toHaveLength(1);
    // the stop came as a slash command, so the minutes answer it (interaction follow-ups, visible in the channel)
    const posts = discord.rest.filter((c) => c.route.startsWith(`/webhooks/${discord.botId}/`) && c.method !== 'DELETE');
    const withFile = posts.find((p) => p.files.some((f) => f.name.endsWith('.md')))!;
    expect(withFile.files[0].bytes.toString()).toMatch(/^# Minutes: Design review[\s\S]*Grace: Grace will update the mockups by Monday/);
    expect(posts.map((p) => String(p.body?.content)).join('\n')).toMatch(/# Minutes: Design review/);
  });
});

describe('a restart in the middle of a meeting', () => {
  it('loses no line: lines queued by a process that died are added after the restart, in order', async () => {
    const started = await interact(notes('start', 'Restart drill'));
    expect(started.content).toMatch(/Restart drill/);
    const channelKey = `discord:${discord.guildId}:${CHANNEL}`;
    // A second process captures lines and dies before its flusher runs.
    const store = await RedisStore.connect({ url: REDIS_URL, prefix });
    const doomed = new Meetings({ backend: app.engine.backend, store, engine: app.engine, log: silentLogger });
    const at = Date.now();
    for (let i = 0; i < 25; i++) {
      await doomed.capture({
        key: 'k',
        target: { platform: 'discord', channel: CHANNEL },
        author: { id: 'u', name: i % 2 ? 'Grace' : 'Ada' },
        text: `line ${i}`,
        kind: 'ambient',
        eventId: `e${i}`,
        group: true,
        channelKey,
        at,
        sink: undefined as never,
      });
    }
    // the process dies here: it never started its flusher, so all 25 lines are only in the queue
    await store.close();
    // the restarted process resumes the meeting from the store
    await app.stop(1_000);
    app = await boot(env());
    await app.meetings.flushAll();
    const thread = (await app.meetings.get(channelKey))!.state.threadId as string;
    const lines = ds
      .messageCreates(thread)
      .flatMap((c) => String(c.body.content).split('\n'))
      .map((l) => l.replace(/^\[\d\d:\d\d\] /, ''));
    expect(lines).toEqual(Array.from({ length: 25 }, (_, i) => `${i % 2 ? 'Grace' : 'Ada'}: line ${i}`));
    await interact(notes('stop'));
    const minutes = discord.rest.calls
      .map((p) => p.files.find((f) => f.name.endsWith('.md'))?.bytes.toString() ?? '')
      .filter(Boolean)
      .at(-1)!;
    expect(minutes).toMatch(/# Minutes: Restart drill/);
    expect(minutes).toMatch(/Ada: line 0[\s\S]*Grace: line 23[\s\S]*Ada: line 24/);
  });
});
