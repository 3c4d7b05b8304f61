import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startThreadline, type StartOptions, type Threadline } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { signSlackBody } from '../adapters/slack/verify.js';
import type { FakeDashScope } from './fakes/dashscope.js';
import type { FakeDiscord } from './fakes/discord.js';
import type { FakeSlack } from './fakes/slack.js';
import { REDIS_URL, tempDir, uniquePrefix } from './helpers.js';

export const SIGNING_SECRET = 'test-signing-secret';

/** The recorded Slack and Discord payloads (a copy of shared/fixtures/recorded, see its README). */
export function fixture<T = any>(name: string): T {
  return JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'recorded', name), 'utf8')) as T;
}

let recordedGuildMention: any;

/**
 * A Discord DM as the gateway sends it, built from the recorded guild mention (channel-discord.json):
 * no guild and no member, channel_type 1 (with Partials.Channel, the pair that makes discord.js emit it).
 */
export function discordDm(id: string, channel: string, content: string, extra: Record<string, unknown> = {}) {
  const { guild_id: _g, member: _m, ...rest } = (recordedGuildMention ??= fixture('channel-discord.json').mention.data);
  return { ...rest, id, channel_id: channel, channel_type: 1, content, mentions: [], ...extra };
}

/** The environment that points Threadline at the given fakes. */
export function fakeEnv(f: { ds: FakeDashScope; slack?: FakeSlack; discord?: FakeDiscord }): Record<string, string> {
  return {
    DASHSCOPE_API_KEY: f.ds.apiKey,
    DASHSCOPE_BASE_URL: f.ds.url,
    ...(f.slack ? { SLACK_BOT_TOKEN: f.slack.botToken, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: f.slack.apiUrl } : {}),
    ...(f.discord ? { DISCORD_TOKEN: f.discord.token, DISCORD_API_URL: f.discord.apiBase } : {}),
  };
}

/** Starts the whole service in this process, wired to fakes by environment variables. */
export async function boot(env: Record<string, string | undefined>, opts: Partial<StartOptions> = {}): Promise<Threadline> {
  const config = loadConfig(
    {
      PORT: '0',
      HOST: '127.0.0.1',
      REDIS_URL,
      REDIS_PREFIX: uniquePrefix('app'),
      DATA_DIR: tempDir('data'),
      TOOLS_DIR: join(tempDir('tools'), 'none'),
      ASSISTANT_NAME: 'Threadline E2E',
      // the per-person limits are on by default; suites that are not about them send storms as one person
      TURNS_PER_MINUTE: '0',
      TURNS_IN_FLIGHT: '0',
      ...env,
    },
    null,
  );
  return startThreadline(config, {
    log: silentLogger,
    testing: { slackRateLimits: 'unlimited', webApiRetries: 0, editIntervalMs: 20, socketPingTimeoutMs: 300, discordRestRetries: 0, discordTypingEveryMs: 50 },
    ...opts,
  });
}

/** Posts a Slack request signed with the test secret (or as told), like Slack would. */
export async function postSlack(
  baseUrl: string,
  body: unknown,
  opts: { retryNum?: number; form?: boolean; secret?: string; ts?: number; headers?: Record<string, string>; raw?: string } = {},
): Promise<Response> {
  const raw = opts.raw ?? (opts.form ? new URLSearchParams(body as Record<string, string>).toString() : JSON.stringify(body));
  const headers: Record<string, string> = {
    'content-type': opts.form ? 'application/x-www-form-urlencoded' : 'application/json',
    ...signSlackBody(opts.secret ?? SIGNING_SECRET, raw, opts.ts),
    ...(opts.retryNum ? { 'x-slack-retry-num': String(opts.retryNum), 'x-slack-retry-reason': 'http_timeout' } : {}),
    ...opts.headers,
  };
  return fetch(`${baseUrl}/slack/events`, { method: 'POST', headers, body: raw });
}
