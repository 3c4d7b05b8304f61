import type { ServerResponse } from 'node:http';
import { Hono } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { ErrorCode, InstallProvider, type CallbackOptions, type CodedError, type Installation } from '@slack/oauth';
import { LogLevel, type WebClientOptions } from '@slack/web-api';
import type { Config } from '../../src/config.js';
import type { Logger } from '../../src/log.js';
import type { Store } from '../../src/store/index.js';
import { SealedInstallations } from './installations.js';
import { slackLogger } from './logger.js';

/** The bot scopes the app asks for: the same list as manifest.json (a test holds them equal). */
export const BOT_SCOPES = [
  'app_mentions:read',
  'assistant:write',
  'channels:history',
  'groups:history',
  'im:history',
  'mpim:history',
  'chat:write',
  'commands',
  'files:read',
  'files:write',
  'reactions:write',
  'users:read',
];

/** What went wrong, as the person who clicked "Add to Slack" should read it, and the status that says whose fault it was. */
const FAILURES: Partial<Record<string, { status: number; text: string }>> = {
  [ErrorCode.AuthorizationError]: { status: 200, text: 'The installation was cancelled. Nothing was installed.' },
  [ErrorCode.MissingCodeError]: { status: 400, text: 'This link is incomplete: start again from the install page.' },
  [ErrorCode.MissingStateError]: { status: 400, text: 'This link is incomplete: start again from the install page.' },
  [ErrorCode.InvalidStateError]: { status: 400, text: 'This installation link expired or was not started in this browser. Start again from the install page.' },
};

/**
 * "Add to Slack": @slack/oauth's InstallProvider with the installations sealed in Threadline's
 * store. GET /slack/install sets the state cookie and shows the button; GET /slack/oauth_redirect
 * verifies the state (signed with SLACK_STATE_SECRET, bound to the browser by the cookie, ten
 * minutes), exchanges the code with oauth.v2.access (at SLACK_API_URL) and stores the installation.
 */
export function slackOAuth(d: { config: NonNullable<NonNullable<Config['slack']>['oauth']>; store: Store; log: Logger; clientOptions: WebClientOptions }) {
  const installations = new SealedInstallations(d.store, d.config.encryptionKey, d.log);
  const installer = new InstallProvider({
    clientId: d.config.clientId,
    clientSecret: d.config.clientSecret,
    stateSecret: d.config.stateSecret,
    installationStore: installations,
    installUrlOptions: { scopes: BOT_SCOPES, ...(d.config.redirectUri ? { redirectUri: d.config.redirectUri } : {}) },
    logger: slackLogger(d.log),
    logLevel: LogLevel.ERROR,
    // oauth.v2.access and the auth.test after it go where every other Web API call goes (SLACK_API_URL)
    clientOptions: d.clientOptions,
  });
  const callbacks: CallbackOptions = {
    success: (installation, _options, _req, res) => page(res, 200, 'Threadline is installed', successText(installation)),
    failure: (error: CodedError, _options, _req, res) => {
      const known = FAILURES[error.code];
      if (!known) d.log.warn({ code: error.code, err: { message: error.message } }, 'a Slack installation failed');
      else d.log.info({ code: error.code }, 'a Slack installation was refused');
      page(res, known?.status ?? 502, 'Threadline was not installed', known?.text ?? 'Slack did not confirm the installation. Please try again in a minute.');
    },
  };
  const routes = new Hono<{ Bindings: HttpBindings }>();
  // (typed for node-server's bindings; mounted on Threadline's plain Hono app)
  routes.get('/slack/install', async (c) => {
    await installer.handleInstallPath(c.env.incoming, c.env.outgoing);
    return RESPONSE_ALREADY_SENT;
  });
  routes.get('/slack/oauth_redirect', async (c) => {
    await installer.handleCallback(c.env.incoming, c.env.outgoing, callbacks);
    return RESPONSE_ALREADY_SENT;
  });
  return { installer, installations, routes: routes as unknown as Hono };
}

function successText(i: Installation): string {
  const where = i.isEnterpriseInstall ? `the ${i.enterprise?.name ?? 'organisation'} organisation` : (i.team?.name ?? 'your workspace');
  return `Threadline is now in ${where}. Mention @Threadline in a channel, or open it from the sidebar to talk to it.`;
}

function page(res: ServerResponse, status: number, title: string, text: string): void {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><meta name="viewport" content="width=device-width,initial-scale=1"></head><body style="font:16px system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem"><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`;
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'", 'cache-control': 'no-store' });
  res.end(html);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
