import { readAssistantsFile, type AssistantsSpec } from './assistants-file.js';
import { DEFAULT_FILE_TYPES } from './engine/files.js';
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { parseDuration } from './duration.js';
import type { AssistantSettings } from './backends/assistant/bootstrap.js';

export const ROLES = ['web', 'gateway'] as const;
export type Role = (typeof ROLES)[number];

export interface Config {
  /**
   * A variable of the merged environment (.env, then the process's), trimmed, or undefined when
   * unset: a platform reads settings of its own with it from its folder (see src/platform.ts).
   */
  env: (name: string) => string | undefined;
  port: number;
  host: string;
  logLevel: string;
  dataDir: string;
  redisUrl?: string;
  /** Prefix of every Redis key (default `threadline:`), so several deployments can share one Redis. */
  redisPrefix: string;
  dashscope: {
    apiKey: string;
    baseUrl: string;
    workspace?: string;
    /** Which model backend answers: DashScope's Assistant API (default) or the OpenAI-compatible Responses API. */
    api: 'assistant' | 'responses';
    /** Base URL of the OpenAI-compatible API (Responses backend). */
    compatibleUrl: string;
    /** The image synthesis model behind text_to_image on the Responses backend. */
    imageModel: string;
    /** Characters of stored history replayed to the Responses API when it forgot a conversation. */
    historyChars: number;
  };
  assistant: AssistantSettings;
  slack?: {
    /** One workspace's bot token (SLACK_BOT_TOKEN); empty in OAuth mode, where each installation brings its own. */
    botToken: string;
    /** "Add to Slack" distribution (SLACK_CLIENT_ID…): installations kept per workspace, sealed with TOKEN_ENCRYPTION_KEY. */
    oauth?: {
      clientId: string;
      clientSecret: string;
      stateSecret: string;
      /** 32 bytes: AES-256-GCM key for the installations at rest. */
      encryptionKey: Buffer;
      /** SLACK_REDIRECT_URI, when the app lists more than one redirect URL. */
      redirectUri?: string;
    };
    signingSecret?: string;
    appToken?: string;
    apiUrl: string;
    allowBots: boolean;
    /** The app declares `agent_view` (the manifest in the repository does): DMs are threaded, sessions and Stop are used. */
    agentView: boolean;
    /** `slack`: keep Slack's published per-method tiers; `off`: send as fast as Slack takes (429s are still waited out per method). */
    rateLimits: 'slack' | 'off';
    teamIds: string[];
    channelIds: string[];
    /** Hosts shared files are downloaded from, with the bot token (SLACK_FILES_HOSTS); no other host ever gets it. */
    filesHosts: string[];
  };
  /** The web playground (adapters/web): on by default without Slack and Discord, or with PLAYGROUND=on. */
  playground?: {
    /** PLAYGROUND_TOKEN: required of every page and API call; without it only loopback peers are served. */
    token?: string;
  };
  discord?: {
    token: string;
    apiUrl: string;
    guildId?: string;
    guildIds: string[];
    channelIds: string[];
    /** Who may DM the bot: nobody, members of an allowed server, or anyone (default `members` when an allowlist is set, else `all`). */
    dms: 'off' | 'members' | 'all';
    /** Hosts attachments are downloaded from (DISCORD_CDN_HOSTS); an exact entry may be loopback, as in IMAGE_HOSTS. */
    cdnHosts: string[];
    /** DISCORD_SHARDS: how many gateway shards (`auto`: Discord's recommendation from /gateway/bot); unset: one, or as discord.js decides. */
    shards?: number | 'auto';
    /** DISCORD_SHARD_LEASE: how long an instance's lease on a shard lasts unrenewed (on Redis); another instance takes a dead one's shards after it. */
    shardLeaseMs: number;
  };
  /** ASSISTANTS_FILE: named assistants and which answers where; undefined = the one assistant of the environment. */
  assistants?: AssistantsSpec;
  imageHosts: string[];
  /** Files people share: at most this many bytes (FILE_MAX_BYTES), of these types (FILE_TYPES). */
  files: { maxBytes: number; types: string[]; timeoutMs: number };
  toolsDir: string;
  conversationIdleResetMs?: number;
  /** Conversation records expire this long after their last turn (default 180 days); 0 keeps them. */
  conversationTtlMs: number;
  /** How long an instance's heartbeat lasts: what a dead instance acknowledged is replayed this long after it died. */
  instanceHeartbeatMs: number;
  /** Tokens a day per person and per channel (0 = no limit). */
  budgets: { perUserDay: number; perChannelDay: number };
  /** People who may switch a channel's assistant besides admins (ADMIN_USER_IDS: `slack:U…`, `discord:…`, or bare ids). */
  adminUserIds: string[];
  /** When set, /metrics asks for `Authorization: Bearer <token>`. */
  metricsToken?: string;
  /** When set, /metrics is served only on this port (and METRICS_HOST), not on PORT. */
  metrics?: { port: number; host: string };
  runTimeoutMs: number;
  shutdownTimeoutMs: number;
  turnsPerMinute: number;
  /** Messages of one person being answered or waiting, at most (this instance); 0 = no limit. */
  turnsInFlight: number;
  /** TURN_CONCURRENCY: turns this instance runs at once at most; the rest wait in the store. */
  turnConcurrency: number;
  /** BACKLOG_WARN: conversations waiting for a slot before a warning is logged. */
  backlogWarn: number;
  /** ADOPT_EVERY: how often an instance on Redis looks for queued work no instance is doing. */
  adoptEveryMs: number;
  /**
   * THREADLINE_ROLES: what this instance runs. `web`: platforms that take HTTP (Slack's Events
   * API, the playground), which scale out; `gateway`: platforms that hold a connection (Discord's
   * gateway, Slack's Socket Mode). Default both; fly.toml's process groups split them.
   */
  roles: Role[];
  meeting: { idleStopMs: number; maxDurationMs: number; checkpointChars: number; batchMs: number };
}

/** A configuration problem, naming every bad or missing variable at once. Contains no values. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: Array<{ variable: string; problem: string; docs?: string }>) {
    super(`Threadline is not configured:\n${problems.map((p) => `  ${p.variable}: ${p.problem}${p.docs ? ` (see README, ${p.docs})` : ''}`).join('\n')}`);
  }
}

export const DEFAULT_INSTRUCTIONS = 'You are Threadline, a helpful assistant in a team chat (Slack or Discord). Messages from people start with their name. Answer clearly and concisely in Markdown.';

/**
 * Reads the environment (plus an optional `.env` file, which never overrides the environment)
 * into a typed, validated Config. Throws ConfigError naming every problem.
 *
 * @example const config = loadConfig(process.env)
 */
export function loadConfig(env: Record<string, string | undefined> = process.env, envFile: string | null = '.env'): Config {
  const vars: Record<string, string | undefined> = { ...readEnvFile(envFile), ...env };
  const get = (name: string): string | undefined => {
    const v = vars[name]?.trim();
    return v ? v : undefined;
  };
  const problems: ConfigError['problems'] = [];
  const need = (name: string, docs: string, why = 'is required'): string => {
    const v = get(name);
    if (!v) problems.push({ variable: name, problem: why, docs });
    return v ?? '';
  };
  const int = (name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number => {
    const v = get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push({ variable: name, problem: `must be a whole number between ${min} and ${max}` });
      return fallback;
    }
    return n;
  };
  const duration = (name: string, fallback: number | undefined): number | undefined => {
    const v = get(name);
    if (v === undefined) return fallback;
    const ms = parseDuration(v);
    if (ms === undefined) problems.push({ variable: name, problem: 'must be a duration such as 30s, 10m, 2h or 7d' });
    return ms ?? fallback;
  };
  const url = (name: string, fallback: string, protocols = ['http:', 'https:']): string => {
    const v = get(name) ?? fallback;
    try {
      const u = new URL(v);
      if (!protocols.includes(u.protocol)) throw new Error('protocol');
    } catch {
      problems.push({ variable: name, problem: `must be a URL (${protocols.join(' or ')})` });
    }
    return v;
  };
  const list = (name: string, fallback = ''): string[] =>
    (get(name) ?? fallback)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const bool = (name: string): boolean => /^(1|true|yes|on)$/i.test(get(name) ?? '');

  const apiKey = need('DASHSCOPE_API_KEY', 'Configuration', 'is required: your Model Studio API key');

  const slackToken = get('SLACK_BOT_TOKEN');
  const signingSecret = get('SLACK_SIGNING_SECRET');
  const appToken = get('SLACK_APP_TOKEN');
  const clientId = get('SLACK_CLIENT_ID');
  let slack: Config['slack'];
  let oauth: NonNullable<Config['slack']>['oauth'];
  if (clientId || get('SLACK_CLIENT_SECRET')) {
    // "Add to Slack": every workspace installs through OAuth and brings its own token
    if (slackToken) problems.push({ variable: 'SLACK_BOT_TOKEN', problem: 'must not be set with SLACK_CLIENT_ID: OAuth installs bring a token per workspace', docs: 'Slack OAuth' });
    oauth = {
      clientId: need('SLACK_CLIENT_ID', 'Slack OAuth', 'is required for OAuth (Basic Information → App Credentials)'),
      clientSecret: need('SLACK_CLIENT_SECRET', 'Slack OAuth', 'is required for OAuth (Basic Information → App Credentials)'),
      stateSecret: need('SLACK_STATE_SECRET', 'Slack OAuth', 'is required for OAuth: a random secret that signs the state parameter (openssl rand -hex 32)'),
      encryptionKey: encryptionKey(get('TOKEN_ENCRYPTION_KEY'), problems),
      redirectUri: get('SLACK_REDIRECT_URI') ? url('SLACK_REDIRECT_URI', '') : undefined,
    };
  }
  if (slackToken || signingSecret || appToken || oauth) {
    if (!slackToken && !oauth) problems.push({ variable: 'SLACK_BOT_TOKEN', problem: 'is required for Slack (xoxb-…), or SLACK_CLIENT_ID for "Add to Slack"', docs: 'Slack' });
    else if (slackToken && !slackToken.startsWith('xoxb-')) problems.push({ variable: 'SLACK_BOT_TOKEN', problem: 'must be a bot token starting with xoxb-', docs: 'Slack' });
    if (!signingSecret && !appToken) problems.push({ variable: 'SLACK_SIGNING_SECRET', problem: 'is required for Slack over HTTP (or set SLACK_APP_TOKEN for Socket Mode)', docs: 'Slack' });
    if (appToken && !appToken.startsWith('xapp-')) problems.push({ variable: 'SLACK_APP_TOKEN', problem: 'must be an app-level token starting with xapp-', docs: 'Slack' });
    slack = {
      botToken: slackToken ?? '',
      oauth,
      signingSecret,
      appToken,
      apiUrl: withTrailingSlash(url('SLACK_API_URL', 'https://slack.com/api/')),
      allowBots: bool('SLACK_ALLOW_BOTS'),
      agentView: !/^(0|false|no|off)$/i.test(get('SLACK_AGENT_VIEW') ?? 'true'),
      rateLimits: oneOf(get('SLACK_RATE_LIMITS') ?? 'slack', ['slack', 'off'], 'SLACK_RATE_LIMITS', problems) as 'slack' | 'off',
      teamIds: list('SLACK_TEAM_IDS'),
      channelIds: list('SLACK_CHANNEL_IDS'),
      filesHosts: list('SLACK_FILES_HOSTS', 'files.slack.com'),
    };
  }

  const discordToken = get('DISCORD_TOKEN');
  const discord: Config['discord'] = discordToken
    ? {
        token: discordToken,
        apiUrl: url('DISCORD_API_URL', 'https://discord.com/api').replace(/\/+$/, ''),
        guildId: get('DISCORD_GUILD_ID'),
        guildIds: list('DISCORD_GUILD_IDS'),
        channelIds: list('DISCORD_CHANNEL_IDS'),
        cdnHosts: list('DISCORD_CDN_HOSTS', 'cdn.discordapp.com,media.discordapp.net'),
        shards: shardCount(get('DISCORD_SHARDS'), problems),
        shardLeaseMs: duration('DISCORD_SHARD_LEASE', 15_000)!,
        // a bot is public by default: with an allowlist, DMs from strangers would run on the operator's bill
        dms: oneOf(get('DISCORD_DMS') ?? (list('DISCORD_GUILD_IDS').length || list('DISCORD_CHANNEL_IDS').length ? 'members' : 'all'), ['off', 'members', 'all'], 'DISCORD_DMS', problems) as
          'off' | 'members' | 'all',
      }
    : undefined;

  if (discord && (discord.shardLeaseMs < 1_000 || discord.shardLeaseMs > 30_000))
    problems.push({ variable: 'DISCORD_SHARD_LEASE', problem: 'must be between 1s and 30s: a dead instance keeps its shards this long', docs: 'Discord' });

  // The playground is on by default when no chat platform is configured: `npm start` with a key alone gives something to try.
  const playgroundSetting = oneOf(get('PLAYGROUND') ?? 'auto', ['auto', 'on', 'off'], 'PLAYGROUND', problems);
  const playgroundToken = get('PLAYGROUND_TOKEN');
  if (playgroundToken && playgroundToken.length < 16)
    problems.push({ variable: 'PLAYGROUND_TOKEN', problem: 'must be at least 16 characters (it guards the playground on a public address)', docs: 'Playground' });
  const playground: Config['playground'] = playgroundSetting === 'on' || (playgroundSetting === 'auto' && !slack && !discord) ? { token: playgroundToken } : undefined;
  if (!slack && !discord && !playground) {
    problems.push({ variable: 'SLACK_BOT_TOKEN', problem: 'set it with SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN) to run on Slack', docs: 'Slack' });
    problems.push({ variable: 'DISCORD_TOKEN', problem: 'or set it to run on Discord', docs: 'Discord' });
    problems.push({ variable: 'PLAYGROUND', problem: 'or leave it unset (or on) for the web playground (at least one platform is needed)', docs: 'Playground' });
  }

  const pluginTokens: Record<string, string> = {};
  for (const pair of list('ASSISTANT_PLUGIN_TOKENS')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) problems.push({ variable: 'ASSISTANT_PLUGIN_TOKENS', problem: 'must look like plugin_id=token,other_plugin=token' });
    else pluginTokens[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }

  const baseUrl = url('DASHSCOPE_BASE_URL', 'https://dashscope-intl.aliyuncs.com/api/v1').replace(/\/+$/, '');

  const redisUrl = get('REDIS_URL');
  if (redisUrl) url('REDIS_URL', redisUrl, ['redis:', 'rediss:']);

  const config: Config = {
    env: get,
    port: int('PORT', 3000, 0, 65535),
    // the playground alone and without a token is for this machine only: loopback, unless HOST says otherwise
    host: get('HOST') ?? (playground && !playground.token && !slack && !discord ? '127.0.0.1' : '0.0.0.0'),
    logLevel: oneOf(get('LOG_LEVEL') ?? 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'LOG_LEVEL', problems),
    dataDir: get('DATA_DIR') ?? './data',
    redisUrl,
    redisPrefix: get('REDIS_PREFIX') ?? 'threadline:',
    dashscope: {
      apiKey,
      baseUrl,
      workspace: get('DASHSCOPE_WORKSPACE'),
      api: oneOf(get('DASHSCOPE_API') ?? 'assistant', ['assistant', 'responses'], 'DASHSCOPE_API', problems) as 'assistant' | 'responses',
      compatibleUrl: url('DASHSCOPE_COMPATIBLE_URL', `${originOf(baseUrl)}/compatible-mode/v1`).replace(/\/+$/, ''),
      imageModel: get('IMAGE_MODEL') ?? 'wan2.5-t2i-preview',
      historyChars: int('RESPONSES_HISTORY_CHARS', 60_000, 2_000, 2_000_000),
    },
    assistant: {
      id: get('ASSISTANT_ID'),
      name: get('ASSISTANT_NAME') ?? 'Threadline',
      model: get('ASSISTANT_MODEL') ?? 'qwen-plus',
      instructions: get('ASSISTANT_INSTRUCTIONS') ?? DEFAULT_INSTRUCTIONS,
      tools: list('ASSISTANT_TOOLS', 'text_to_image'),
      pluginTokens,
    },
    slack,
    discord,
    playground,
    assistants: undefined,
    // DashScope's result buckets (dashscope-result-bj.oss-cn-beijing.aliyuncs.com …), not every OSS bucket
    imageHosts: list('IMAGE_HOSTS', 'dashscope-result*.aliyuncs.com'),
    files: {
      maxBytes: int('FILE_MAX_BYTES', 20 * 1024 * 1024, 1, 512 * 1024 * 1024),
      types: get('FILE_TYPES') ? list('FILE_TYPES') : DEFAULT_FILE_TYPES,
      timeoutMs: duration('FILE_TIMEOUT', 30_000)!,
    },
    toolsDir: get('TOOLS_DIR') ?? './tools',
    conversationIdleResetMs: duration('CONVERSATION_IDLE_RESET', undefined),
    conversationTtlMs: get('CONVERSATION_TTL') === '0' ? 0 : duration('CONVERSATION_TTL', 180 * 86_400_000)!,
    metricsToken: get('METRICS_TOKEN'),
    adminUserIds: list('ADMIN_USER_IDS'),
    instanceHeartbeatMs: duration('INSTANCE_HEARTBEAT', 30_000)!,
    budgets: { perUserDay: int('BUDGET_TOKENS_PER_USER_DAY', 0), perChannelDay: int('BUDGET_TOKENS_PER_CHANNEL_DAY', 0) },
    metrics: get('METRICS_PORT') === undefined ? undefined : { port: int('METRICS_PORT', 9091, 0, 65535), host: get('METRICS_HOST') ?? get('HOST') ?? '0.0.0.0' },
    runTimeoutMs: duration('RUN_TIMEOUT', 600_000)!,
    shutdownTimeoutMs: duration('SHUTDOWN_TIMEOUT', 25_000)!,
    turnsPerMinute: int('TURNS_PER_MINUTE', 20, 0, 10_000),
    turnsInFlight: int('TURNS_IN_FLIGHT', 3, 0, 10_000),
    turnConcurrency: int('TURN_CONCURRENCY', 32, 1, 10_000),
    backlogWarn: int('BACKLOG_WARN', 100, 1, 10_000_000),
    adoptEveryMs: duration('ADOPT_EVERY', 5_000)!,
    roles: list('THREADLINE_ROLES', 'web,gateway').filter(
      (r) => ROLES.includes(r as Role) || void problems.push({ variable: 'THREADLINE_ROLES', problem: `has ${r}: roles are web and gateway` }),
    ) as Role[],
    meeting: {
      idleStopMs: duration('MEETING_IDLE_STOP', 30 * 60_000)!,
      maxDurationMs: duration('MEETING_MAX_DURATION', 4 * 3_600_000)!,
      checkpointChars: int('MEETING_CHECKPOINT_CHARS', 24_000, 500),
      batchMs: duration('MEETING_BATCH', 1_000)!,
    },
  };
  const assistantsFile = get('ASSISTANTS_FILE');
  if (assistantsFile) {
    const { name: baseName, id: _id, ...rest } = config.assistant;
    config.assistants = readAssistantsFile(assistantsFile, get, { ...rest, baseName, backend: config.dashscope.api, ...(config.assistant.id ? { id: config.assistant.id } : {}) }, problems);
  }
  if (problems.length) throw new ConfigError(problems);
  return config;
}

function oneOf(value: string, allowed: string[], name: string, problems: ConfigError['problems']): string {
  if (!allowed.includes(value)) problems.push({ variable: name, problem: `must be one of ${allowed.join(', ')}` });
  return value;
}

function originOf(u: string): string {
  try {
    return new URL(u).origin;
  } catch {
    // only picks a default: an invalid DASHSCOPE_BASE_URL is already reported by url()
    return 'https://dashscope-intl.aliyuncs.com';
  }
}

function withTrailingSlash(u: string): string {
  return u.endsWith('/') ? u : `${u}/`;
}

function readEnvFile(path: string | null): Record<string, string> {
  if (!path) return {};
  try {
    return parseEnv(readFileSync(path, 'utf8')) as Record<string, string>;
  } catch (err) {
    // no .env is the usual case; one that exists and cannot be read is a configuration problem
    if ((err as { code?: string }).code === 'ENOENT') return {};
    throw new ConfigError([{ variable: path, problem: `cannot be read (${(err as { code?: string }).code ?? (err as Error).message})` }]);
  }
}

/** DISCORD_SHARDS: `auto` or a whole number of shards (Discord requires sharding past 2,500 servers). */
function shardCount(v: string | undefined, problems: ConfigError['problems']): number | 'auto' | undefined {
  if (v === undefined || v === 'auto') return v;
  const n = Number(v);
  if (Number.isInteger(n) && n >= 1 && n <= 4096) return n;
  problems.push({ variable: 'DISCORD_SHARDS', problem: 'must be auto or a whole number of shards from 1 to 4096', docs: 'Discord' });
  return undefined;
}

/**
 * TOKEN_ENCRYPTION_KEY: 32 bytes, as 64 hex digits or base64 (`openssl rand -base64 32`). OAuth
 * mode refuses to start without it: installations hold bot tokens and are never stored in clear.
 */
function encryptionKey(v: string | undefined, problems: ConfigError['problems']): Buffer {
  const key = !v ? undefined : /^[0-9a-f]{64}$/i.test(v) ? Buffer.from(v, 'hex') : /^[A-Za-z0-9+/_-]{43}=?$/.test(v) ? Buffer.from(v, 'base64') : undefined;
  if (key?.length === 32) return key;
  problems.push({
    variable: 'TOKEN_ENCRYPTION_KEY',
    problem: v ? 'must be 32 bytes, as 64 hex digits or base64 (openssl rand -base64 32)' : 'is required for OAuth: installations are stored encrypted (openssl rand -base64 32)',
    docs: 'Slack OAuth',
  });
  return Buffer.alloc(0);
}
