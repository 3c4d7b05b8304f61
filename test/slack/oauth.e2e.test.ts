import { randomBytes } from 'node:crypto';
import { createClient } from '@redis/client';
import { ClearStateStore } from '@slack/oauth';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { BOT_SCOPES } from '../../adapters/slack/oauth.js';
import manifest from '../../adapters/slack/manifest.json' with { type: 'json' };
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack, type FakeInstall } from '../fakes/slack.js';
import { SIGNING_SECRET, boot, fixture, postSlack } from '../app-harness.js';
import { REDIS_URL, capturingLogger, eventually, uniquePrefix } from '../helpers.js';

/**
 * "Add to Slack" (issue 20): the install page, the redirect with its state, installations sealed
 * in Redis, events from two workspaces each answered with that workspace's token, and
 * app_uninstalled / tokens_revoked deleting the installation and its conversations.
 * oauth.v2.access is the fake's, strict as Slack's reference: client credentials, one-time codes,
 * the same redirect_uri. The events are the recorded ones: slack.json's mention (workspace
 * T00FAKE00AA) and slack-multi-workspace-team1.json's (T0A8YAUUGMU, a workspace of an Enterprise
 * Grid org, installed on its own).
 */
const STATE_SECRET = 'test-state-secret-0123456789abcdef';
const KEY = randomBytes(32).toString('base64');
const alphaEvent = fixture('slack.json').mention;
const beta = fixture('slack-multi-workspace-team1.json');
const ALPHA: FakeInstall = { token: 'xoxb-1-alpha-install-token', team: { id: 'T00FAKE00AA', name: 'Alpha Corp' }, botUserId: 'U00FAKEBOT01', botId: 'B00ALPHA0001' };
const BETA: FakeInstall = {
  token: 'xoxb-2-beta-install-token',
  team: { id: beta.teamId, name: beta.teamName },
  enterprise: { id: beta.mention.enterprise_id, name: 'Vercel Sandbox' },
  botUserId: beta.botUserId,
  botId: 'B00BETA00001',
};

let ds: FakeDashScope;
let slack: FakeSlack;
let app: Threadline | undefined;
let prefix: string;
const redis = createClient({ url: REDIS_URL });
let n = 0;

function oauthEnv(): Record<string, string> {
  return {
    DASHSCOPE_API_KEY: ds.apiKey,
    DASHSCOPE_BASE_URL: ds.url,
    SLACK_CLIENT_ID: slack.clientId,
    SLACK_CLIENT_SECRET: slack.clientSecret,
    SLACK_STATE_SECRET: STATE_SECRET,
    TOKEN_ENCRYPTION_KEY: KEY,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.apiUrl,
    REDIS_PREFIX: prefix,
  };
}

/** The person's browser: opens the install page, approves on Slack, follows the redirect with its cookie. */
async function install(who: FakeInstall): Promise<Response> {
  const page = await fetch(`${app!.url}/slack/install`);
  expect(page.status).toBe(200);
  const cookie = page.headers.get('set-cookie') ?? '';
  const state = /slack-app-oauth-state=([^;]+)/.exec(cookie)?.[1];
  expect(state).toBeTruthy();
  const authorize = new URL(/<a href="([^"]+)"/.exec(await page.text())![1].replaceAll('&amp;', '&'));
  expect(authorize.searchParams.get('state')).toBe(state);
  expect(authorize.searchParams.get('client_id')).toBe(slack.clientId);
  const code = slack.grant(who);
  return fetch(`${app!.url}/slack/oauth_redirect?code=${code}&state=${encodeURIComponent(state!)}`, { headers: { cookie: `slack-app-oauth-state=${state}` } });
}

function mentionIn(which: 'alpha' | 'beta', text: string) {
  const base = which === 'alpha' ? alphaEvent : beta.mention;
  const bot = which === 'alpha' ? ALPHA.botUserId : BETA.botUserId;
  const ts = `1790${String(++n).padStart(6, '0')}.000200`;
  return { ...base, event_id: `EvOAuth${n}`, event: { ...base.event, ts, event_ts: ts, text: `<@${bot}> ${text}` } };
}

/** Every Web API call about a thread, with the token it carried. */
function callsInThread(ts: string) {
  return slack.log.filter((c) => c.args.thread_ts === ts || c.args.ts === ts || (typeof c.args.ts === 'string' && slack.streamThread(c.args.ts) === ts));
}

/** Every string value Threadline stored in Redis under this test's prefix. */
async function rawValues(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const key of await redis.keys(`${prefix}*`)) if ((await redis.type(key)) === 'string') out.set(key, (await redis.get(key)) ?? '');
  return out;
}

beforeAll(async () => {
  [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
  await redis.connect();
});
afterEach(async () => {
  await app?.stop(1_000);
  app = undefined;
});
afterAll(async () => {
  await redis.close();
  await Promise.all([ds.stop(), slack.stop()]);
});

describe('Slack OAuth ("Add to Slack")', () => {
  it('installs two workspaces, seals their tokens in Redis, and answers each with its own token', async () => {
    prefix = uniquePrefix('oauth');
    // everything the operator could read, Bolt's and the Web API's debug lines included
    const { log, lines } = await capturingLogger('debug');
    app = await boot(oauthEnv(), { log });
    const done = await install(ALPHA);
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('Threadline is now in Alpha Corp');
    expect((await install(BETA)).status).toBe(200);
    const exchange = slack.log.filter((c) => c.method === 'oauth.v2.access');
    expect(exchange).toHaveLength(2);
    expect(exchange.every((c) => c.result.ok)).toBe(true);

    // at rest: the two installations are there, and no value holds a token, a team name or a bot id
    const values = await rawValues();
    const installs = [...values.keys()].filter((k) => k.includes('slack-install:team:'));
    expect(installs).toHaveLength(2);
    for (const [key, value] of values) {
      for (const secret of [ALPHA.token, BETA.token, 'xoxb-', ALPHA.team.name, BETA.team.name, ALPHA.botId]) expect(value, key).not.toContain(secret);
    }

    const a = mentionIn('alpha', 'hello from alpha');
    const b = mentionIn('beta', 'hello from beta');
    expect((await postSlack(app.url, a)).status).toBe(200);
    expect((await postSlack(app.url, b)).status).toBe(200);
    const replied = (ts: string) => (c: { method: string; args: Record<string, any> }) => (c.method === 'chat.stopStream' || c.method === 'chat.postMessage') && callsInThread(ts).includes(c as never);
    await slack.log.waitFor(replied(a.event.ts), 10_000, 'alpha reply');
    await slack.log.waitFor(replied(b.event.ts), 10_000, 'beta reply');
    const alphaCalls = callsInThread(a.event.ts);
    const betaCalls = callsInThread(b.event.ts);
    expect(alphaCalls.length).toBeGreaterThan(0);
    expect(betaCalls.length).toBeGreaterThan(0);
    expect(new Set(alphaCalls.map((c) => c.token))).toEqual(new Set([ALPHA.token]));
    expect(new Set(betaCalls.map((c) => c.token))).toEqual(new Set([BETA.token]));
    // the asker's name is looked up in their own workspace too
    const lookups = slack.log.filter((c) => c.method === 'users.info');
    expect(lookups.find((c) => c.args.user === a.event.user)?.token).toBe(ALPHA.token);
    expect(lookups.find((c) => c.args.user === b.event.user)?.token).toBe(BETA.token);
    // no secret in any log line
    const logged = JSON.stringify(lines);
    expect(logged).toContain('slack app installed');
    for (const secret of [ALPHA.token, BETA.token, slack.clientSecret, STATE_SECRET, KEY]) expect(logged).not.toContain(secret);
  });

  it("a slash command is answered with its own workspace's token", async () => {
    prefix = uniquePrefix('oauth-command');
    app = await boot(oauthEnv());
    expect((await install(ALPHA)).status).toBe(200);
    expect((await install(BETA)).status).toBe(200);
    const recorded = fixture('slash-commands-slack.json').slashCommandWithArgs;
    const command = { ...recorded, command: '/assistant', text: 'what is a shard?', team_id: BETA.team.id, channel_id: beta.mention.event.channel, trigger_id: `trigger-oauth-${++n}` };
    expect((await postSlack(app.url, command, { form: true })).status).toBe(200);
    // the question is posted in the channel, and answered in its thread, all with beta's token
    const asked = await slack.log.waitFor((c) => c.method === 'chat.postMessage' && /asked:\* what is a shard\?/.test(c.text ?? ''), 10_000, 'question posted');
    const threadTs = String(asked.result.ts);
    await slack.log.waitFor((c) => c.method === 'chat.stopStream' && callsInThread(threadTs).includes(c), 10_000, 'answer');
    expect(asked.token).toBe(BETA.token);
    expect(new Set(callsInThread(threadTs).map((c) => c.token))).toEqual(new Set([BETA.token]));
  });

  it('in Socket Mode too: installed over HTTP, an envelope from the workspace is answered with its token', async () => {
    prefix = uniquePrefix('oauth-socket');
    const { SLACK_SIGNING_SECRET: _secret, ...env } = oauthEnv();
    app = await boot({ ...env, SLACK_APP_TOKEN: slack.appToken });
    expect((await install(BETA)).status).toBe(200);
    const m = mentionIn('beta', 'hello over the socket');
    expect(await slack.sendEnvelope('events_api', m)).toEqual({});
    await slack.log.waitFor((c) => c.method === 'chat.stopStream' && callsInThread(m.event.ts).includes(c), 10_000, 'socket reply');
    expect(new Set(callsInThread(m.event.ts).map((c) => c.token))).toEqual(new Set([BETA.token]));
  });

  it('refuses a forged state, a stale one, and one not started in this browser; nothing is stored', async () => {
    prefix = uniquePrefix('oauth-state');
    app = await boot(oauthEnv());
    const exchangesBefore = slack.log.filter((c) => c.method === 'oauth.v2.access').length;
    const page = await fetch(`${app.url}/slack/install`);
    const state = /slack-app-oauth-state=([^;]+)/.exec(page.headers.get('set-cookie') ?? '')![1];
    const tryWith = (s: string, cookie = s) =>
      fetch(`${app!.url}/slack/oauth_redirect?code=${slack.grant(ALPHA)}&state=${encodeURIComponent(s)}`, { headers: { cookie: `slack-app-oauth-state=${cookie}` } });

    const forged = await new ClearStateStore('another-secret-entirely-000000').generateStateParam({ scopes: BOT_SCOPES }, new Date());
    const stale = await new ClearStateStore(STATE_SECRET).generateStateParam({ scopes: BOT_SCOPES }, new Date(Date.now() - 11 * 60_000));
    for (const res of [await tryWith(forged), await tryWith(stale), await tryWith(state, 'someone-elses-state')]) {
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(/Start again from the install page/);
    }
    const missing = await fetch(`${app.url}/slack/oauth_redirect?code=${slack.grant(ALPHA)}`, { headers: { cookie: `slack-app-oauth-state=${state}` } });
    expect(missing.status).toBe(400);
    // Slack was never asked for a token, and nothing was stored
    expect(slack.log.filter((c) => c.method === 'oauth.v2.access')).toHaveLength(exchangesBefore);
    expect([...(await rawValues()).keys()].filter((k) => k.includes('slack-install'))).toHaveLength(0);
  });

  it('app_uninstalled deletes the installation and its conversations; the other workspace keeps answering', async () => {
    prefix = uniquePrefix('oauth-uninstall');
    app = await boot(oauthEnv());
    expect((await install(ALPHA)).status).toBe(200);
    expect((await install(BETA)).status).toBe(200);
    const a = mentionIn('alpha', 'remember me');
    const b = mentionIn('beta', 'remember me too');
    await postSlack(app.url, a);
    await postSlack(app.url, b);
    await slack.log.waitFor((c) => c.method === 'chat.stopStream' && callsInThread(a.event.ts).includes(c), 10_000, 'alpha reply');
    await slack.log.waitFor((c) => c.method === 'chat.stopStream' && callsInThread(b.event.ts).includes(c), 10_000, 'beta reply');
    await app.slack!.idle();
    const alphaKey = `slack:${ALPHA.team.id}:${a.event.channel}:${a.event.ts}`;
    const betaKey = `slack:${BETA.team.id}:${b.event.channel}:${b.event.ts}`;
    expect(await app.engine.hasConversation(alphaKey)).toBe(true);

    // Slack revokes the token and sends app_uninstalled (recorded envelope, the event's documented shape)
    slack.revoked.add(ALPHA.token);
    const uninstalled = { ...alphaEvent, event_id: `EvUninstall${++n}`, event: { type: 'app_uninstalled', event_ts: `${Date.now() / 1000}` } };
    expect((await postSlack(app.url, uninstalled)).status).toBe(200);
    await eventually(async () => ![...(await rawValues()).keys()].some((k) => k.endsWith(`slack-install:team:${ALPHA.team.id}`)), 5_000, 'installation deleted');
    await app.slack!.idle();
    expect(await app.engine.hasConversation(alphaKey)).toBe(false);
    expect(await app.engine.hasConversation(betaKey)).toBe(true);

    // a mention from the removed workspace (a late delivery) gets no call with any token; beta still answers
    const late = mentionIn('alpha', 'are you there?');
    const b2 = mentionIn('beta', 'still there?');
    await postSlack(app.url, late);
    await postSlack(app.url, b2);
    await slack.log.waitFor((c) => c.method === 'chat.stopStream' && callsInThread(b2.event.ts).includes(c), 10_000, 'beta reply after');
    await app.slack!.idle();
    expect(callsInThread(late.event.ts)).toHaveLength(0);
  });

  it('tokens_revoked for the bot deletes the installation too; a revoked user token changes nothing', async () => {
    prefix = uniquePrefix('oauth-revoked');
    app = await boot(oauthEnv());
    expect((await install(BETA)).status).toBe(200);
    const revoked = (tokens: Record<string, string[]>) => ({ ...beta.mention, event_id: `EvRevoked${++n}`, event: { type: 'tokens_revoked', tokens, event_ts: `${Date.now() / 1000}` } });
    await postSlack(app.url, revoked({ oauth: ['U0A8WUV28QM'] }));
    await app.slack!.idle();
    expect([...(await rawValues()).keys()].some((k) => k.endsWith(`slack-install:team:${BETA.team.id}`))).toBe(true);
    await postSlack(app.url, revoked({ bot: [BETA.botUserId] }));
    await eventually(async () => ![...(await rawValues()).keys()].some((k) => k.includes('slack-install:team:')), 5_000, 'installation deleted');
  });

  it('an org-wide install (Enterprise Grid) answers in each workspace of the org with the org token', async () => {
    prefix = uniquePrefix('oauth-org');
    app = await boot(oauthEnv());
    const org: FakeInstall = { ...BETA, token: 'xoxb-3-org-install-token', isEnterpriseInstall: true, team: { id: '', name: '' } };
    expect((await install(org)).status).toBe(200);
    const values = await rawValues();
    expect([...values.keys()].filter((k) => k.endsWith(`slack-install:org:${BETA.enterprise!.id}`))).toHaveLength(1);
    // the recorded event, as an org-wide install receives it
    const m = mentionIn('beta', 'hello org');
    const event = { ...m, is_enterprise_install: true, authorizations: [{ ...m.authorizations[0], is_enterprise_install: true }] };
    await postSlack(app.url, event);
    await slack.log.waitFor((c) => c.method === 'chat.stopStream' && callsInThread(m.event.ts).includes(c), 10_000, 'org reply');
    expect(new Set(callsInThread(m.event.ts).map((c) => c.token))).toEqual(new Set([org.token]));
  });
});

describe('OAuth settings', () => {
  const base = { DASHSCOPE_API_KEY: 'sk-test', SLACK_CLIENT_ID: '1.2', SLACK_CLIENT_SECRET: 's', SLACK_STATE_SECRET: 'x', SLACK_SIGNING_SECRET: 'y' };
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env, null);
      return [];
    } catch (err) {
      return (err as ConfigError).problems.map((p) => p.variable);
    }
  };
  it('refuse to start without TOKEN_ENCRYPTION_KEY, or with one that is not 32 bytes', () => {
    expect(problems(base)).toContain('TOKEN_ENCRYPTION_KEY');
    expect(problems({ ...base, TOKEN_ENCRYPTION_KEY: randomBytes(16).toString('base64') })).toContain('TOKEN_ENCRYPTION_KEY');
    expect(problems({ ...base, TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64') })).toEqual([]);
    expect(problems({ ...base, TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('hex') })).toEqual([]);
    expect(problems({ ...base, TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('hex'), SLACK_BOT_TOKEN: 'xoxb-1' })).toContain('SLACK_BOT_TOKEN');
    expect(problems({ ...base, SLACK_STATE_SECRET: '', TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('hex') })).toContain('SLACK_STATE_SECRET');
  });
  it('ask for the scopes the manifest declares', () => {
    expect([...BOT_SCOPES].sort()).toEqual([...manifest.oauth_config.scopes.bot].sort());
  });
});
