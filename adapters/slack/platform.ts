import type { PlatformModule } from '../../src/platform.js';
import type { MethodLimit } from './outbound.js';
import { startSlack } from './index.js';

/** Slack, when SLACK_BOT_TOKEN (with a signing secret or an app token) is set. */
export const slackPlatform: PlatformModule = {
  name: 'slack',
  routePrefixes: ['/slack/'],
  // Socket Mode holds a connection, like Discord's gateway; the Events API over HTTP scales out
  role: (config) => (config.slack?.appToken ? 'gateway' : 'web'),
  enabled: (config) => !!config.slack,
  start: ({ config, engine, store, log, metrics, intake, testing, ...ctx }) => {
    const t = testing as {
      socketPingTimeoutMs?: number;
      webApiRetries?: number;
      editIntervalMs?: number;
      slackRateLimits?: Record<string, MethodLimit> | 'unlimited';
      slackStatusRefreshMs?: number;
      slackBodyDeadlineMs?: number;
      slackMaxUnverifiedReads?: number;
    };
    const slack = config.slack!;
    return startSlack({
      config: slack,
      engine,
      store,
      log,
      metrics,
      fileTimeoutMs: config.files.timeoutMs,
      intake,
      socketPingTimeoutMs: t.socketPingTimeoutMs,
      webApiRetries: t.webApiRetries,
      editIntervalMs: t.editIntervalMs,
      rateLimits: t.slackRateLimits ?? (slack.rateLimits === 'off' ? 'unlimited' : undefined),
      statusRefreshMs: t.slackStatusRefreshMs,
      bodyDeadlineMs: t.slackBodyDeadlineMs,
      maxUnverifiedReads: t.slackMaxUnverifiedReads,
      accepting: () => ctx.accepting(),
    });
  },
};
