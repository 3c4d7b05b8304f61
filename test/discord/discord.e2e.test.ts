import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { openFenceAtEnd } from '../../src/engine/format/split.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeDiscord } from '../fakes/discord.js';
import { FakeImageHost, PNG } from '../fakes/image-server.js';
import { boot, fixture, fakeEnv, discordDm } from '../app-harness.js';

const channelMention = fixture('channel-discord.json').mention.data;
const recorded = fixture('discord.json');

let ds: FakeDashScope;
let discord: FakeDiscord;
let images: FakeImageHost;
let app: Threadline;
let n = 0;

/** A recorded guild mention, with a fresh message id (which is also the id of the thread opened on it). */
function mention(text: string, over: Record<string, unknown> = {}) {
  const id = discord.nextId();
  return { ...channelMention, id, content: `<@${discord.botId}> ${text}`, nonce: String(++n), ...over };
}

/** A DM (the recorded mention without its server: see discordDm). */
function dm(text: string, channelId = '1460000000000000001') {
  return discordDm(discord.nextId(), channelId, text);
}

/** A follow-up inside a thread, shaped like the recorded gatewayThreadUserHey. */
function inThread(threadId: string, text: string) {
  return { ...recorded.gatewayThreadUserHey.data, id: discord.nextId(), channel_id: threadId, content: text };
}

/** A slash command as Discord sends it on INTERACTION_CREATE (the shape the recorded channel events share). */
function slash(token: string, name: string, options: Array<{ name: string; type: number; value: string }>, permissions: string) {
  return {
    id: discord.nextId(),
    application_id: discord.botId,
    type: 2,
    token,
    version: 1,
    guild_id: discord.guildId,
    channel_id: channelMention.channel_id,
    channel: { id: channelMention.channel_id, type: 0, guild_id: discord.guildId, name: 'channel-1' },
    member: { user: channelMention.author, roles: [], permissions, joined_at: new Date().toISOString(), deaf: false, mute: false, flags: 0 },
    data: { id: '2', name, type: 1, options },
    app_permissions: '2248473465835073',
    locale: 'en-US',
    guild_locale: 'en-US',
    entitlements: [],
    authorizing_integration_owners: { 0: discord.guildId },
    context: 0,
  };
}

beforeAll(async () => {
  ds = await new FakeDashScope().start();
  discord = await new FakeDiscord().start();
  images = await new FakeImageHost().start();
  app = await boot({
    ...fakeEnv({ ds, discord }),
    DISCORD_GUILD_ID: discord.guildId,
    IMAGE_HOSTS: images.host,
  });
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([ds.stop(), discord.stop(), images.stop()]);
});
beforeEach(() => {
  ds.model = ({ newUserMessages }) => ({ text: ['You said: ', newUserMessages.join(' | ')] });
});

describe('Discord client', () => {
  it('identifies with the four intents, registers the slash commands to the guild by bulk overwrite, and is ready', async () => {
    const identify = discord.gateway.calls.find((f) => f.op === 2)!;
    expect(identify.d.intents).toBe(37377);
    const put = discord.rest.filter((c) => c.method === 'PUT')[0];
    expect(put.route).toBe(`/applications/${discord.botId}/guilds/${discord.guildId}/commands`);
    expect(put.body.map((c: { name: string }) => c.name).sort()).toEqual(['ask', 'assistant', 'help', 'notes', 'reset', 'stop', 'usage']);
    expect(app.discord!.inviteUrl).toMatch(/client_id=1457469483726668048&scope=bot%20applications.commands&permissions=\d+/);
    expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
  });
});

describe('conversations', () => {
  it('answers a DM in the DM', async () => {
    const msg = dm('hello there');
    discord.dispatch('MESSAGE_CREATE', msg);
    await discord.rest.waitFor((c) => c.route === `/channels/${msg.channel_id}/messages` && c.method === 'POST');
    await app.discord!.idle();
    expect(discord.rest.filter((c) => c.route === `/channels/${msg.channel_id}/typing`).length).toBeGreaterThan(0);
    expect(discord.visible(msg.channel_id)).toEqual(['You said: hello there']);
    expect(discord.posts(msg.channel_id)[0].body.message_reference).toMatchObject({ message_id: msg.id });
    expect(ds.messageCreates().at(-1)!.body.content).toBe('hello there');
  });

  it('opens a thread on a guild mention (recorded payload), answers in it, and continues there without a mention', async () => {
    discord.dispatch('MESSAGE_CREATE', channelMention);
    const threadId = channelMention.id;
    await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${threadId}/messages`);
    await app.discord!.idle();
    const open = discord.rest.filter((c) => c.route === `/channels/${channelMention.channel_id}/messages/${threadId}/threads`)[0];
    expect(open.body).toMatchObject({ name: 'Test' });
    expect(discord.visible(threadId)).toEqual(['You said: Test User: Test']);
    discord.dispatch('MESSAGE_CREATE', inThread(threadId, 'and more'));
    await discord.rest.waitForCount((c) => c.method === 'POST' && c.route === `/channels/${threadId}/messages`, 2);
    await app.discord!.idle();
    expect(discord.visible(threadId)).toEqual(['You said: Test User: Test', 'You said: Test User: and more']);
    const runs = ds.runCreates().slice(-2);
    expect(runs[0].path).toBe(runs[1].path);
  });

  it('reuses the thread when one already exists for the message (160004)', async () => {
    const msg = mention('again please');
    discord.threads.set(msg.id, {
      id: msg.id,
      type: 11,
      guild_id: discord.guildId,
      parent_id: msg.channel_id,
      name: 'old',
      thread_metadata: { archived: false, auto_archive_duration: 60, archive_timestamp: new Date().toISOString(), locked: false },
    });
    discord.dispatch('MESSAGE_CREATE', msg);
    await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${msg.id}/messages`);
    await app.discord!.idle();
    expect(discord.visible(msg.id)).toEqual(['You said: Test User: again please']);
  });

  it('renews the typing indicator while a long run works, and stops it with the reply', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    ds.model = () => ({ text: 'worth the wait', until: gate });
    const msg = dm('take your time', '1460000000000000088');
    const typing = (c: { route: string }) => c.route === `/channels/${msg.channel_id}/typing`;
    discord.dispatch('MESSAGE_CREATE', msg);
    await discord.rest.waitForCount(typing, 3); // the first call and two renewals (every 50 ms here, 8 s in production)
    release();
    await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${msg.channel_id}/messages`);
    await app.discord!.idle();
    expect(discord.visible(msg.channel_id)).toEqual(['worth the wait']);
    const sent = discord.rest.filter(typing).length;
    // another turn that lasts several renewal periods: the finished one renews no more
    ds.model = () => ({ text: 'later', delayMs: 200 });
    const other = dm('and now', '1460000000000000089');
    discord.dispatch('MESSAGE_CREATE', other);
    await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${other.channel_id}/messages`);
    expect(discord.rest.filter((c) => c.route === `/channels/${other.channel_id}/typing`).length).toBeGreaterThanOrEqual(3);
    expect(discord.rest.filter(typing).length).toBe(sent);
  });

  it('ignores other bots and its own messages', async () => {
    const before = ds.messageCreates().length;
    discord.dispatch('MESSAGE_CREATE', { ...recorded.gatewayThreadWelcome.data, id: discord.nextId() }); // the bot's own welcome
    discord.dispatch('MESSAGE_CREATE', { ...dm('beep'), author: { ...channelMention.author, id: '999', bot: true } });
    discord.dispatch('MESSAGE_CREATE', dm('after the bots', '1460000000000000077'));
    await discord.rest.waitFor((c) => c.method === 'POST' && c.route === '/channels/1460000000000000077/messages');
    await app.discord!.idle();
    expect(ds.messageCreates().length - before).toBe(1);
  });
});

describe('replies', () => {
  it('attaches a generated image to the reply', async () => {
    ds.model = () => ({ text: `A fox ![a red fox](${images.url}/fox/cat.png)` });
    const msg = dm('draw a fox', '1460000000000000002');
    discord.dispatch('MESSAGE_CREATE', msg);
    await discord.rest.waitFor((c) => c.files.length > 0);
    await app.discord!.idle();
    const withFile = discord.rest.calls.find((c) => c.files.length > 0)!;
    expect(withFile.files[0].name).toBe('cat.png');
    expect(withFile.files[0].bytes.equals(PNG)).toBe(true);
    expect(withFile.body.attachments[0]).toMatchObject({ description: 'a red fox' });
    expect(discord.visible(msg.channel_id).join('\n')).toContain('A fox _(image: a red fox)_');
  });

  it('splits a 5,000-character reply into valid messages with balanced code fences', async () => {
    const code = Array.from({ length: 90 }, (_, i) => `    total += compute(${i})  # step ${i}`).join('\n');
    const long = `Here is the plan.\n\n${'Some prose. '.repeat(150)}\n\n\`\`\`python\n${code}\n\`\`\`\n\nDone.`;
    expect(long.length).toBeGreaterThan(5_000);
    ds.model = () => ({ text: long.match(/[\s\S]{1,700}/g)! });
    const msg = dm('long please', '1460000000000000003');
    discord.dispatch('MESSAGE_CREATE', msg);
    await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${msg.channel_id}/messages`);
    await app.discord!.idle();
    const shown = discord.visible(msg.channel_id);
    expect(shown.length).toBeGreaterThanOrEqual(3);
    for (const m of shown) {
      expect(m.length).toBeLessThanOrEqual(2000);
      expect(openFenceAtEnd(m)).toBeUndefined();
    }
    expect(
      shown
        .join('')
        .replace(/```(python)?\n?/g, '')
        .replace(/\s+/g, ''),
    ).toBe(long.replace(/```(python)?\n?/g, '').replace(/\s+/g, ''));
  });

  it('answers /ask with a deferred reply, then edits it', async () => {
    const interaction = slash('itoken-1', 'ask', [{ name: 'prompt', type: 3, value: 'what is up' }], '2248473465835073');
    discord.dispatch('INTERACTION_CREATE', interaction);
    await discord.rest.waitFor((c) => c.method === 'PATCH' && c.route === `/webhooks/${discord.botId}/itoken-1/messages/@original`);
    await app.discord!.idle();
    const callback = discord.rest.filter((c) => c.route === `/interactions/${interaction.id}/itoken-1/callback`)[0];
    expect(callback.body.type).toBe(5); // deferred channel message
    const edits = discord.rest.filter((c) => c.method === 'PATCH' && c.route.includes('itoken-1'));
    expect(edits.at(-1)!.body.content).toBe('You said: Test User: what is up');
  });
});

describe('/assistant and /usage (issue 16)', () => {
  const answerTo = async (token: string) => {
    await discord.rest.waitFor((c) => c.method === 'PATCH' && c.route === `/webhooks/${discord.botId}/${token}/messages/@original`);
    await app.discord!.idle();
    return discord.rest.filter((c) => c.method === 'PATCH' && c.route.includes(token)).at(-1)!.body.content as string;
  };

  it('switching needs Manage Channels: without it a polite refusal, with it the channel is switched', async () => {
    const use = [
      { name: 'action', type: 3, value: 'use' },
      { name: 'name', type: 3, value: 'default' },
    ];
    discord.dispatch('INTERACTION_CREATE', slash('itoken-as1', 'assistant', use, '2248473465835073')); // no Manage Channels (bit 16)
    expect(await answerTo('itoken-as1')).toMatch(/Only a workspace admin \(Slack\) or someone who may manage channels \(Discord\)/);
    discord.dispatch('INTERACTION_CREATE', slash('itoken-as2', 'assistant', use, String(2248473465835073n | 16n)));
    expect(await answerTo('itoken-as2')).toMatch(/From the next conversation, this channel uses \*\*default\*\*/);
  });

  it('/usage says what was used today', async () => {
    discord.dispatch('INTERACTION_CREATE', slash('itoken-us1', 'usage', [], '2248473465835073'));
    expect(await answerTo('itoken-us1')).toMatch(/^Today \(UTC\) you have used \d+ tokens; this channel \d+\.$/);
  });
});

describe('gateway', () => {
  it('resumes after an op 7 reconnect in the middle of a conversation and keeps answering', async () => {
    const first = dm('before the reconnect', '1460000000000000004');
    discord.dispatch('MESSAGE_CREATE', first);
    await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${first.channel_id}/messages`);
    const resumes = discord.gateway.filter((f) => f.op === 6).length;
    discord.requestReconnect();
    await discord.gateway.waitFor((_f, all) => all.filter((x) => x.op === 6).length > resumes);
    expect(discord.gateway.calls.filter((f) => f.op === 6).at(-1)!.d).toMatchObject({ token: discord.token, session_id: 'session-1' });
    await new Promise<void>((resolve) => {
      const check = () => (discord.connections === 1 ? resolve() : setImmediate(check));
      check();
    });
    discord.dispatch('MESSAGE_CREATE', dm('after the reconnect', first.channel_id));
    await discord.rest.waitForCount((c) => c.method === 'POST' && c.route === `/channels/${first.channel_id}/messages`, 2);
    await app.discord!.idle();
    expect(discord.visible(first.channel_id)).toEqual(['You said: before the reconnect', 'You said: after the reconnect']);
  });
});

describe('channels it cannot post in', () => {
  it.each([
    [50013, 'missing permissions'],
    [50083, 'an archived thread'],
    [10003, 'a deleted channel'],
  ])('%i (%s) is logged and handled; the bot keeps answering elsewhere', async (code) => {
    const channel = `14620000000000000${code}`;
    discord.refuse.set(channel, code);
    const runs = ds.runCreates().length;
    discord.dispatch('MESSAGE_CREATE', dm('can you hear me?', channel));
    await ds.log.waitFor((_c, all) => all.filter((c) => c.method === 'POST' && /\/runs$/.test(c.path)).length > runs);
    await app.discord!.idle();
    discord.refuse.delete(channel);
    const ok = dm('and here?', `14630000000000000${code}`);
    discord.dispatch('MESSAGE_CREATE', ok);
    await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${ok.channel_id}/messages` && c.result?.id);
    await app.discord!.idle();
    expect(discord.visible(ok.channel_id)).toEqual(['You said: and here?']);
  });
});
