import { createHash } from 'node:crypto';
import { LogLevel, WebClient, type WebClientOptions } from '@slack/web-api';
import type { Logger } from '../../src/log.js';
import type { SealedInstallations } from './installations.js';
import { slackLogger } from './logger.js';

/** The bot as one workspace knows it. */
export interface Workspace {
  /** The bot user (mentions are `<@U…>`) and the bot id its own messages carry. */
  botUserId: string;
  botId?: string;
  /** The outbound scheduler's bucket for this workspace's rate limits (never the token). */
  bucket: string;
}

/**
 * Where the bot answers, and with which credentials: one workspace with SLACK_BOT_TOKEN, or every
 * workspace that installed it through "Add to Slack" (each with its own installation's token).
 */
export interface Workspaces {
  readonly mode: 'token' | 'oauth';
  /** The bot in `team` (`org`: the event came through that org's org-wide install); undefined when the app is not installed there (OAuth). */
  get(team: string, org?: string): Promise<Workspace | undefined>;
  /** A Web API client for `team`: its calls carry that workspace's token (looked up per call in OAuth mode). */
  client(team: string): WebClient;
  /** The bot token for `team` (file downloads); undefined when not installed. */
  token(team: string): Promise<string | undefined>;
  /** The scheduler's bucket for `team`, synchronously (what was learned so far; a token's hash before). */
  bucket(team: string): string;
  /** Forgets what this instance cached about `team` (uninstalled). */
  forget(team: string): void;
}

/** A token's bucket id: a hash, never the token. */
export function bucketOfToken(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

/** SLACK_BOT_TOKEN: one workspace, one client (Enterprise Grid events from several teams share it). */
export function tokenWorkspaces(client: WebClient, token: string, bot: { botUserId: string; botId?: string }): Workspaces {
  const ws: Workspace = { ...bot, bucket: bucketOfToken(token) };
  return {
    mode: 'token',
    get: async () => ws,
    client: () => client,
    token: async () => token,
    bucket: () => ws.bucket,
    forget: () => undefined,
  };
}

/**
 * OAuth: each workspace's installation (SealedInstallations). Clients are made per workspace and
 * carry no token of their own: their `fetch` adds the installation's token to Web API calls only
 * (file upload URLs never see it), so a reply sink made before a restart works after it.
 */
export function installedWorkspaces(
  installations: SealedInstallations,
  opts: { apiUrl: string; clientOptions: WebClientOptions; fetch: typeof fetch; log: Logger; onToken?: (token: string, bucket: string) => void },
): Workspaces {
  const clients = new Map<string, WebClient>();
  const buckets = new Map<string, string>();
  const resolve = async (team: string, org?: string) => {
    const i = await installations.forTeam(team, org);
    const token = i?.bot?.token;
    if (!i || !token) return undefined;
    // an org-wide install spends one budget across its workspaces (one token)
    const bucket = i.isEnterpriseInstall && i.enterprise?.id ? `org:${i.enterprise.id}` : `team:${i.team?.id ?? team}`;
    buckets.set(team, bucket);
    opts.onToken?.(token, bucket);
    return { token, ws: { botUserId: i.bot!.userId, botId: i.bot!.id, bucket } };
  };
  return {
    mode: 'oauth',
    get: async (team, org) => (await resolve(team, org))?.ws,
    token: async (team) => (await resolve(team))?.token,
    bucket: (team) => buckets.get(team) ?? `team:${team}`,
    forget: (team) => {
      clients.delete(team);
      buckets.delete(team);
    },
    client: (team) => {
      let c = clients.get(team);
      if (c) return c;
      const withToken: typeof fetch = async (input, init = {}) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        if (!url.startsWith(opts.apiUrl)) return opts.fetch(input, init);
        const token = (await resolve(team))?.token;
        if (!token) throw new Error(`Threadline is not installed in Slack workspace ${team}`);
        const headers = new Headers(init.headers);
        headers.set('authorization', `Bearer ${token}`);
        return opts.fetch(input, { ...init, headers });
      };
      c = new WebClient(undefined, { ...opts.clientOptions, fetch: withToken, logger: slackLogger(opts.log), logLevel: LogLevel.ERROR });
      clients.set(team, c);
      if (clients.size > 10_000) clients.delete(clients.keys().next().value!);
      return c;
    },
  };
}
