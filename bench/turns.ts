/**
 * Turn overhead and streaming, through the whole service in this process against the fakes:
 *   - event received → Message.create at the fake DashScope, and run completed → final post at the
 *     fake Slack / Discord, with the memory, file and Redis stores (the fake answers at once);
 *   - first delta at the fake → first visible text on Slack and Discord, streaming against a
 *     polling baseline (wait() every 500 ms, as the official Node SDK does), and DashScope
 *     requests per turn in each mode.
 * Fakes record performance.now() on every call, so the figures are in-process intervals.
 */
import { join } from 'node:path';
import { WebClient } from '@slack/web-api';
import { signSlackBody } from '../adapters/slack/verify.js';
import { startThreadline, type Threadline } from '../src/app.js';
import { AssistantClient } from '../src/assistant/index.js';
import { loadConfig } from '../src/config.js';
import { finalMessageText } from '../src/backends/assistant/run.js';
import { silentLogger } from '../src/log.js';
import { LocalStore, RedisStore, type Store } from '../src/store/index.js';
import { FakeDashScope } from '../test/fakes/dashscope.js';
import { FakeDiscord } from '../test/fakes/discord.js';
import { FakeResponses } from '../test/fakes/responses.js';
import { FakeSlack } from '../test/fakes/slack.js';
import { tempDir } from '../test/helpers.js';
import { log, percentile, round } from './lib.js';
// the signing secret and environment the tests give Threadline against the fakes
import { SIGNING_SECRET as SECRET, fakeEnv } from '../test/app-harness.js';

interface Rig {
  ds: FakeDashScope;
  slack: FakeSlack;
  discord: FakeDiscord;
  app: Threadline;
}

async function rig(store: Store): Promise<Rig> {
  const [ds, slack, discord] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start(), new FakeDiscord().start()]);
  const config = loadConfig(
    {
      PORT: '0',
      HOST: '127.0.0.1',
      ...fakeEnv({ ds, slack, discord }),
      TOOLS_DIR: '/nonexistent',
    },
    null,
  );
  const app = await startThreadline(config, { log: silentLogger, store });
  return { ds, slack, discord, app };
}

async function close(r: Rig): Promise<void> {
  await r.app.stop(2_000);
  await Promise.all([r.ds.stop(), r.slack.stop(), r.discord.stop()]);
}

let seq = 0;
function slackMention(threadTs?: string): { body: string; ts: string } {
  const ts = `${1_780_000_000 + ++seq}.000100`;
  const event = { type: 'app_mention', user: 'U00FAKEUSER1', text: '<@U00FAKEBOT01> hello', ts, channel: 'C00FAKECHAN1', event_ts: ts, ...(threadTs ? { thread_ts: threadTs } : {}) };
  return {
    body: JSON.stringify({
      token: 'x',
      api_app_id: 'A00FAKEAPP01',
      type: 'event_callback',
      team_id: 'T00FAKE00AA',
      authorizations: [{ user_id: 'U00FAKEBOT01', team_id: 'T00FAKE00AA', is_bot: true }],
      event_id: `Ev${ts}`,
      event,
    }),
    ts,
  };
}

async function postSlack(url: string, body: string): Promise<number> {
  const t0 = performance.now();
  await fetch(`${url}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...signSlackBody(SECRET, body) }, body });
  return t0;
}

function discordDm(discord: FakeDiscord, channel: string) {
  return {
    id: discord.nextId(),
    channel_id: channel,
    channel_type: 1,
    type: 0,
    content: 'hello',
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    author: { id: '1033044521375764530', username: 'u', discriminator: '0', global_name: 'U', avatar: null },
    mentions: [],
    mention_roles: [],
    mention_everyone: false,
    attachments: [],
    embeds: [],
    components: [],
    pinned: false,
    tts: false,
    flags: 0,
  };
}

export interface OverheadResult {
  store: string;
  receivedToCreateMs: { p50: number; p99: number };
  completedToSlackPostMs: { p50: number; p99: number };
  completedToDiscordPostMs: { p50: number; p99: number };
}

/** One turn at a time (so each measures overhead, not queueing). */
export async function benchOverhead(opts: { turns: number; redisUrl: string }): Promise<OverheadResult[]> {
  const results: OverheadResult[] = [];
  const stores: Array<[string, () => Promise<Store>]> = [
    ['memory', async () => new LocalStore()],
    ['file', async () => new LocalStore({ file: join(tempDir('bench'), 'kv.json') })],
    ['redis', () => RedisStore.connect({ url: opts.redisUrl, prefix: `threadline-bench:${Date.now()}:` })],
  ];
  for (const [name, make] of stores) {
    log(`turn overhead: ${name}`);
    const r = await rig(await make());
    r.ds.model = () => ({ text: 'ok' });
    const toCreate: number[] = [];
    const slackPost: number[] = [];
    const discordPost: number[] = [];
    try {
      for (let i = 0; i < opts.turns + 5; i++) {
        // Slack: a mention in a new thread
        const { body, ts } = slackMention();
        const mark = r.ds.log.calls.length;
        const t0 = await postSlack(r.app.url, body);
        // a new conversation: its thread is created with the message (POST /threads with messages)
        const create = await r.ds.log.waitFor((c, all) => all.length > mark && c.method === 'POST' && c.path === '/threads' && Array.isArray(c.body?.messages));
        const start = await r.slack.log.waitFor((c) => c.method === 'chat.startStream' && c.args.thread_ts === ts);
        const stop = await r.slack.log.waitFor((c) => c.method === 'chat.stopStream' && c.args.ts === start.result.ts);
        const run = [...r.ds.runs.values()].at(-1)!;
        await r.app.slack!.idle();
        // Discord: a DM
        const dm = discordDm(r.discord, `14700000000000${String(i).padStart(5, '0')}`);
        const runsBefore = r.ds.runs.size;
        r.discord.dispatch('MESSAGE_CREATE', dm);
        const post = await r.discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${dm.channel_id}/messages`);
        const drun = [...r.ds.runs.values()].slice(runsBefore)[0];
        await r.app.discord!.idle();
        if (i < 5) continue; // warm-up
        toCreate.push(create.hr! - t0);
        slackPost.push(stop.hr! - run.finishedHr!);
        discordPost.push(post.hr! - drun.finishedHr!);
      }
    } finally {
      await close(r);
    }
    const s = (v: number[]) => ({ p50: round(percentile(v, 50), 2), p99: round(percentile(v, 99), 2) });
    results.push({ store: name, receivedToCreateMs: s(toCreate), completedToSlackPostMs: s(slackPost), completedToDiscordPostMs: s(discordPost) });
  }
  return results;
}

/** The same turn overhead on the Responses backend (DASHSCOPE_API=responses), Redis store. */
export async function benchOverheadResponses(opts: { turns: number; redisUrl: string }): Promise<OverheadResult> {
  log('turn overhead: redis, Responses backend');
  const [rs, slack, discord] = await Promise.all([new FakeResponses().start(), new FakeSlack().start(), new FakeDiscord().start()]);
  const config = loadConfig(
    {
      PORT: '0',
      HOST: '127.0.0.1',
      DASHSCOPE_API: 'responses',
      DASHSCOPE_API_KEY: rs.apiKey,
      DASHSCOPE_BASE_URL: rs.baseUrl,
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: slack.apiUrl,
      DISCORD_TOKEN: discord.token,
      DISCORD_API_URL: discord.apiBase,
      TOOLS_DIR: '/nonexistent',
    },
    null,
  );
  const app = await startThreadline(config, { log: silentLogger, store: await RedisStore.connect({ url: opts.redisUrl, prefix: `threadline-bench:${Date.now()}:` }) });
  rs.model = () => ({ text: 'ok' });
  const toCreate: number[] = [];
  const slackPost: number[] = [];
  const discordPost: number[] = [];
  const lastCompleted = () => [...rs.completedHr.values()].at(-1)!;
  try {
    for (let i = 0; i < opts.turns + 5; i++) {
      const { body, ts } = slackMention();
      const mark = rs.log.calls.length;
      const t0 = await postSlack(app.url, body);
      const create = await rs.log.waitFor((c, all) => all.length > mark && c.path === '/compatible-mode/v1/responses');
      const start = await slack.log.waitFor((c) => c.method === 'chat.startStream' && c.args.thread_ts === ts);
      const stop = await slack.log.waitFor((c) => c.method === 'chat.stopStream' && c.args.ts === start.result.ts);
      const slackDone = lastCompleted();
      await app.slack!.idle();
      const dm = discordDm(discord, `14900000000000${String(i).padStart(5, '0')}`);
      const completions = rs.completedHr.size;
      discord.dispatch('MESSAGE_CREATE', dm);
      const post = await discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${dm.channel_id}/messages`);
      await app.discord!.idle();
      // this DM's own response (the turn is over, so it has completed)
      const discordDone = [...rs.completedHr.values()][completions];
      if (i < 5) continue; // warm-up
      toCreate.push(create.hr! - t0);
      slackPost.push(stop.hr! - slackDone);
      discordPost.push(post.hr! - discordDone);
    }
  } finally {
    await app.stop(2_000);
    await Promise.all([rs.stop(), slack.stop(), discord.stop()]);
  }
  const s = (v: number[]) => ({ p50: round(percentile(v, 50), 2), p99: round(percentile(v, 99), 2) });
  return { store: 'redis (responses)', receivedToCreateMs: s(toCreate), completedToSlackPostMs: s(slackPost), completedToDiscordPostMs: s(discordPost) };
}

export interface StreamingResult {
  mode: string;
  firstTextSlackMs: { p50: number; p99: number };
  firstTextDiscordMs: { p50: number; p99: number };
  dashscopeRequestsPerTurn: number;
}

/** The model writes 20 chunks, 50 ms apart (a one-second answer). */
export async function benchStreaming(opts: { turns: number; redisUrl: string }): Promise<StreamingResult[]> {
  log('streaming');
  const r = await rig(await RedisStore.connect({ url: opts.redisUrl, prefix: `threadline-bench:${Date.now()}:` }));
  r.ds.model = () => ({ text: Array.from({ length: 20 }, (_, i) => `word${i} `), delayMs: 50 });
  const slackFirst: number[] = [];
  const discordFirst: number[] = [];
  let streamRequests = 0;
  const pollSlack: number[] = [];
  let pollRequests = 0;
  try {
    for (let i = 0; i < opts.turns; i++) {
      const { body, ts } = slackMention();
      const before = r.ds.log.calls.length;
      await postSlack(r.app.url, body);
      const first = await r.slack.log.waitFor((c) => c.method === 'chat.startStream' && c.args.thread_ts === ts);
      await r.app.slack!.idle();
      const run = [...r.ds.runs.values()].at(-1)!;
      slackFirst.push(first.hr! - run.firstDeltaHr!);
      streamRequests += r.ds.log.calls.length - before;

      const dm = discordDm(r.discord, `14800000000000${String(i).padStart(5, '0')}`);
      const runs = r.ds.runs.size;
      r.discord.dispatch('MESSAGE_CREATE', dm);
      const post = await r.discord.rest.waitFor((c) => c.method === 'POST' && c.route === `/channels/${dm.channel_id}/messages`);
      await r.app.discord!.idle();
      const drun = [...r.ds.runs.values()].slice(runs)[0];
      discordFirst.push(post.hr! - drun.firstDeltaHr!);
    }
    // Baseline: the official SDK's way: create the run, wait() polling every 500 ms, read the message, post it.
    const api = new AssistantClient({ baseUrl: r.ds.url, apiKey: r.ds.apiKey, userAgent: 'bench' });
    const web = new WebClient(r.slack.botToken, { slackApiUrl: r.slack.apiUrl });
    const assistantId = (r.app.engine.backend as unknown as { assistantId: string }).assistantId;
    for (let i = 0; i < opts.turns; i++) {
      const before = r.ds.log.calls.length;
      const thread = await api.threads.create();
      await api.messages.create(thread.id, { content: 'hello' });
      const run = await api.runs.create(thread.id, { assistant_id: assistantId });
      await api.runs.wait(thread.id, run.id, { intervalMs: 500, maxIntervalMs: 500 });
      const text = await finalMessageText(api, thread.id, run.id);
      await web.chat.postMessage({ channel: 'C00FAKECHAN1', thread_ts: `poll-${i}`, text });
      const post = r.slack.log.calls.at(-1)!;
      pollSlack.push(post.hr! - r.ds.runs.get(run.id)!.firstDeltaHr!);
      pollRequests += r.ds.log.calls.length - before;
    }
  } finally {
    await close(r);
  }
  const s = (v: number[]) => ({ p50: round(percentile(v, 50), 1), p99: round(percentile(v, 99), 1) });
  return [
    { mode: 'streaming (Threadline)', firstTextSlackMs: s(slackFirst), firstTextDiscordMs: s(discordFirst), dashscopeRequestsPerTurn: round(streamRequests / opts.turns, 1) },
    { mode: 'polling every 500 ms (SDK wait)', firstTextSlackMs: s(pollSlack), firstTextDiscordMs: s(pollSlack), dashscopeRequestsPerTurn: round(pollRequests / opts.turns, 1) },
  ];
}
