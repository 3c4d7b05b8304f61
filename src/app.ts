// discord.js must load before @slack/bolt: whichever HTTP stack loads first sets the process-wide
// fetch dispatcher, and discord.js attachments break when Bolt's comes first (harness §6).
import { discordPlatform } from '../adapters/discord/platform.js';
import type { DiscordAdapter } from '../adapters/discord/index.js';
import { slackPlatform } from '../adapters/slack/platform.js';
import type { SlackAdapter } from '../adapters/slack/index.js';
import { webPlatform } from '../adapters/web/platform.js';
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { BackendSlot, ModelError, createBackend } from './backends/index.js';
import { ConfigError, type Config } from './config.js';
import { Engine } from './engine/engine.js';
import { Intake } from './engine/intake.js';
import { ImageFetcher } from './engine/images.js';
import { Meetings } from './engine/meetings/index.js';
import { getCurrentTime } from './engine/tools/builtin.js';
import { loadToolsFrom } from './engine/tools/loader.js';
import { ToolRegistry } from './engine/tools/registry.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { Readiness } from './readiness.js';
import { createMetricsApp, createServerApp } from './server.js';
import { createStore, type Store } from './store/index.js';
import type { Platform, PlatformModule } from './platform.js';

/** Every platform Threadline can run: each is one folder under adapters/ and one line here. */
const PLATFORMS: PlatformModule[] = [discordPlatform, slackPlatform, webPlatform];

/** package.json's version: one folder up from src/ when run from source, two from dist/src/ when compiled. */
export const VERSION: string = (() => {
  for (const rel of ['../package.json', '../../package.json']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  }
  return '0.0.0';
})();

export interface Threadline {
  url: string;
  port: number;
  /** Where /metrics is served when METRICS_PORT puts it on a port of its own. */
  metricsUrl?: string;
  engine: Engine;
  store: Store;
  metrics: Metrics;
  readiness: Readiness;
  /** The platforms running here, by name. */
  platforms: Record<string, Platform>;
  /** The Slack and Discord adapters, typed, for tests and benchmarks that reach into them. */
  slack?: SlackAdapter;
  discord?: DiscordAdapter;
  meetings: Meetings;
  /** Graceful stop: refuse new events, let turns finish until the deadline, disconnect. */
  stop(deadlineMs?: number): Promise<{ finished: boolean }>;
}

export interface StartOptions {
  log: Logger;
  /** Test knobs: faster Socket Mode reconnects, no Web API retries, Discord timeouts. */
  testing?: {
    slackBodyDeadlineMs?: number;
    slackMaxUnverifiedReads?: number;
    slackStatusRefreshMs?: number;
    slackRateLimits?: Record<string, import('../adapters/slack/outbound.js').MethodLimit> | 'unlimited';
    imagePollMs?: number;
    responsesRetries?: number;
    socketPingTimeoutMs?: number;
    webApiRetries?: number;
    editIntervalMs?: number;
    discordRestRetries?: number;
    discordTypingEveryMs?: number;
  };
  registry?: ToolRegistry;
  imageFetcher?: ImageFetcher;
  /** Platforms beyond the built-in ones (a test's own, or an embedder's). */
  platforms?: PlatformModule[];
  /** A store to use instead of the configured one (benchmarks compare memory, file and Redis). */
  store?: Store;
}

/**
 * The composition root: config → store → assistant client → engine → adapters → server.
 * /healthz answers from the first moment; /readyz turns 200 once everything is up.
 */
export async function startThreadline(config: Config, opts: StartOptions): Promise<Threadline> {
  const { log } = opts;
  // what the configuration asks for, of this instance's roles (THREADLINE_ROLES)
  const modules = [...PLATFORMS, ...(opts.platforms ?? [])].filter((m) => m.enabled(config) && config.roles.includes(m.role(config)));
  const problems = modules.flatMap((m) => m.problems?.(config) ?? []);
  if (problems.length) throw new ConfigError(problems);
  const metrics = new Metrics({ defaults: true });
  const readiness = new Readiness();
  const http = createServerApp({
    readiness,
    metrics,
    metricsToken: config.metricsToken,
    metricsElsewhere: config.metrics !== undefined,
    startingPrefixes: modules.flatMap((m) => m.routePrefixes ?? []),
  });
  let accepting = true;
  let stopped = false;
  const server = await listen(http.app.fetch, config.port, config.host);
  // Node's defaults wait 60 s for headers and 300 s for a request: slow clients would hold sockets
  // (fly.toml's hard_limit is 400 connections on a 512 MB machine). Slack sends small bodies at once.
  const node = server as import('node:http').Server;
  node.headersTimeout = 10_000;
  node.requestTimeout = 20_000;
  const port = (server.address() as AddressInfo).port;
  // Keep-alive sockets (a browser's, an event stream being reopened) must not hold a stop: idle ones
  // close at once, and whatever is still open two seconds later is cut.
  const cleanup: Array<() => Promise<unknown>> = [
    () =>
      new Promise((r) => {
        const cut = setTimeout(() => node.closeAllConnections(), 2_000);
        server.close(() => (clearTimeout(cut), r(undefined)));
        node.closeIdleConnections();
      }),
  ];
  let metricsUrl: string | undefined;
  try {
    if (config.metrics) {
      const metricsApp = createMetricsApp({ metrics, metricsToken: config.metricsToken });
      const metricsServer: ServerType = await listen(metricsApp.fetch, config.metrics.port, config.metrics.host);
      cleanup.push(() => new Promise((r) => metricsServer.close(() => r(undefined))));
      metricsUrl = `http://127.0.0.1:${(metricsServer.address() as AddressInfo).port}`;
    }
    const store =
      opts.store ??
      (await createStore({ redisUrl: config.redisUrl, redisPrefix: config.redisPrefix, dataDir: config.dataDir, onError: (err) => log.warn({ err: { message: err.message } }, 'store error') }));
    cleanup.unshift(() => store.close());
    readiness.add('store', () => store.ping());
    const backend = new BackendSlot();
    readiness.add('assistant', () => backend.ready);
    // the engine picks a new conversation's assistant (routes, a channel's choice); it exists by the first turn
    const late: { engine?: Engine } = {};
    const choose = (key: string) => late.engine?.chooseAssistant(key) ?? Promise.resolve('default');
    const connect = async () =>
      backend.set(
        await createBackend(
          config,
          {
            store,
            log,
            userAgent: `threadline/${VERSION}`,
            testing: { imagePollMs: opts.testing?.imagePollMs, responsesRetries: opts.testing?.responsesRetries },
            onResponse: (r) => {
              metrics.dashscopeRequests.inc({ method: r.method, status: String(r.status) });
              if (r.code) metrics.dashscopeErrors.inc({ code: r.code });
              // DashScope's pace sets ours: a 429 halves the turns run at once, successes bring them back
              if (r.status === 429) late.engine?.pace.throttled();
              else if (r.status < 400) late.engine?.pace.succeeded();
            },
          },
          choose,
        ),
      );
    let bootstrapping: Promise<void> | undefined;
    try {
      await connect();
    } catch (err) {
      // A refusal (bad key, unknown assistant) is a configuration problem: stop with it. DashScope
      // unreachable or failing is not: serve /healthz, answer /readyz 503 naming `assistant`, keep
      // trying, and take events once it answers (Slack gets 503 and retries meanwhile).
      if (!(err instanceof ModelError) || !err.retryable) throw err;
      log.warn({ err }, 'DashScope is not answering at startup; retrying in the background');
      bootstrapping = retryBootstrap(connect, log, () => stopped);
    }
    const registry = opts.registry ?? new ToolRegistry().register(getCurrentTime);
    const loaded = await loadToolsFrom(config.toolsDir, registry);
    if (loaded.length) log.info({ tools: loaded }, 'local tools loaded');
    const images = opts.imageFetcher ?? new ImageFetcher({ hosts: config.imageHosts });
    metrics.heldImageBytes = () => images.heldBytes;
    const engine = new Engine({
      backend,
      store,
      registry,
      images,
      platforms: {},
      log,
      metrics,
      options: {
        runTimeoutMs: config.runTimeoutMs,
        idleResetMs: config.conversationIdleResetMs,
        turnsPerMinute: config.turnsPerMinute,
        turnsInFlight: config.turnsInFlight,
        turnConcurrency: config.turnConcurrency,
        backlogWarn: config.backlogWarn,
        conversationTtlMs: config.conversationTtlMs,
        files: config.files,
        assistantRoutes: config.assistants?.routes ?? [],
        adminUserIds: config.adminUserIds,
        budgets: {
          ...config.budgets,
          byAssistant: Object.fromEntries(Object.values(config.assistants?.assistants ?? {}).flatMap((a) => (a.budget ? [[a.name, a.budget]] : []))),
        },
      },
    });
    late.engine = engine;
    // events acknowledged to Slack are recorded first; a heartbeat says this instance is alive
    const intake = new Intake(store, log, config.instanceHeartbeatMs);
    metrics.intakeNow = () => intake.pending;
    metrics.turnsNow = () => engine.busy;
    metrics.backlogNow = () => engine.backlog();
    await intake.start();
    cleanup.unshift(() => intake.stop());
    const platforms: Record<string, Platform> = {};
    const context = {
      config,
      engine,
      store,
      log,
      metrics,
      intake,
      accepting: () => accepting && backend.ready,
      assistantNames: Object.keys(config.assistants?.assistants ?? { default: 1 }),
      throttled: (by: string) => engine.pace.throttled(Date.now(), by),
      server: { port },
      testing: opts.testing ?? {},
    };
    for (const module of modules) {
      const platform = await module.start(context);
      platforms[module.name] = platform;
      cleanup.unshift(() => platform.stop());
      readiness.add(module.name, () => platform.isConnected());
      engine.addPlatform(module.name, platform);
      if (platform.routes) http.mount(platform.routes);
    }
    const meetings = new Meetings({ backend, store, engine, log, metrics, options: config.meeting });
    engine.meetings = meetings;
    const resume = async () => {
      const resumedMeetings = await meetings.start();
      if (resumedMeetings) log.info({ meetings: resumedMeetings }, 'meetings resumed');
      const recovered = await engine.recover();
      if (recovered) log.info({ recovered }, 'finishing runs left by the previous process');
      for (const platform of Object.values(platforms)) {
        if (!platform.replayOrphans) continue;
        // what a dead instance acknowledged and never took care of; then every 10 s, for instances that die meanwhile
        await platform.replayOrphans();
        const timer = setInterval(
          () => void platform.replayOrphans!().catch((err: unknown) => log.warn({ err }, 'replaying acknowledged events failed')),
          Math.min(10_000, config.instanceHeartbeatMs),
        );
        timer.unref();
        cleanup.unshift(async () => clearInterval(timer));
      }
    };
    if (store.kind === 'redis') {
      // a shared backlog: conversations other instances queued and have no slot for, or left when they died
      const adopt = setInterval(() => void engine.adopt().catch((err: unknown) => log.warn({ err }, 'looking for work other instances left failed')), config.adoptEveryMs);
      adopt.unref();
      cleanup.unshift(async () => clearInterval(adopt));
    }
    if (bootstrapping) void bootstrapping.then(resume).catch((err: unknown) => log.error({ err }, 'could not resume after DashScope came back'));
    else await resume();
    // files uploaded for conversations that were forgotten meanwhile (CONVERSATION_TTL) are deleted at DashScope, hourly
    engine.held.start();
    readiness.markStarted();
    log.info({ port, host: config.host, roles: config.roles, platforms: Object.keys(platforms) }, 'threadline started');
    if (!Object.keys(platforms).length) log.warn({ roles: config.roles }, 'no platform runs in these roles here: this instance only serves health checks and metrics');
    for (const p of Object.values(platforms)) if (p.banner) log.info({ platform: p.name }, p.banner);
    let stopping: Promise<{ finished: boolean }> | undefined;
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      metricsUrl,
      engine,
      store,
      metrics,
      readiness,
      platforms,
      slack: platforms.slack as SlackAdapter | undefined,
      discord: platforms.discord as DiscordAdapter | undefined,
      meetings,
      stop: (deadlineMs = config.shutdownTimeoutMs) =>
        (stopping ??= (async () => {
          stopped = true;
          readiness.markStopping();
          accepting = false;
          engine.held.stop();
          const result = await engine.drain(deadlineMs);
          await meetings.close();
          for (const fn of cleanup) await fn().catch((err: unknown) => log.warn({ err }, 'error while stopping'));
          return result;
        })()),
    };
  } catch (err) {
    // startup failed: that error is what the operator needs; a cleanup failure is noted beside it
    for (const fn of cleanup) await fn().catch((e: unknown) => log.debug({ err: e }, 'cleanup after a failed start'));
    throw err;
  }
}

/** Serves `fetch` on the port; resolves once listening, rejects when the port cannot be had. */
function listen(fetch: (req: Request) => Response | Promise<Response>, port: number, hostname: string): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const s = serve({ fetch, port, hostname }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Bootstrap again and again, backing off from 1 s to a minute, until it works or Threadline stops. */
async function retryBootstrap(connect: () => Promise<void>, log: Logger, stopped: () => boolean): Promise<void> {
  for (let attempt = 1, wait = 1_000; !stopped(); attempt++, wait = Math.min(60_000, wait * 2)) {
    await new Promise((r) => setTimeout(r, wait * (0.5 + Math.random() / 2)).unref());
    if (stopped()) return;
    try {
      await connect();
      log.info({ attempt }, 'DashScope answers: taking events');
      return;
    } catch (err) {
      log.warn({ err, attempt }, 'DashScope is still not answering');
    }
  }
}
