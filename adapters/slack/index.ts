import { App, LogLevel, SocketModeReceiver, type AnyMiddlewareArgs, type AuthorizeSourceData, type SlashCommand } from '@slack/bolt';
import { WebClient } from '@slack/web-api';
import { Hono } from 'hono';
import type { Config } from '../../src/config.js';
import { parseCommand } from '../../src/engine/commands.js';
import type { EnginePort } from '../../src/engine/port.js';
import type { Inbound, PlatformPort, ReplyPlace, ReplyTarget } from '../../src/engine/types.js';
import type { Platform } from '../../src/platform.js';
import type { Logger } from '../../src/log.js';
import type { Metrics } from '../../src/metrics.js';
import { PendingWork } from '../../src/pending-work.js';
import { PerKeyGate } from '../../src/engine/format/throttle.js';
import type { Store } from '../../src/store/index.js';
import { nodeFetch } from '../../src/net/fetch.js';
import { routeSlackMessage, type SlackMessageEvent, type SlackRoute, type SlackTarget } from './inbound.js';
import { HonoReceiver } from './receiver.js';
import { durableSocketEvents } from './socket-intake.js';
import { messageScreen } from './screen.js';
import type { Screen } from './event-handler.js';
import { SlackOutbound, type MethodLimit } from './outbound.js';
import { SlackSink } from './sink.js';
import { slackPlaceOf } from './place.js';
import { newCapabilities } from './capabilities.js';
import { FEEDBACK_ACTION } from './blocks.js';
import { slackKeys } from './key.js';
import { agentContextKey, agentContextText, aiThreadKey, viewing, type AgentContext, type AiThread } from './agent.js';
import { agentEventHandlers } from './agent-events.js';
import { listenToEvents, type SlackEventHandler } from './events.js';
import { slackOAuth } from './oauth.js';
import { installedWorkspaces, tokenWorkspaces, type Workspaces } from './workspaces.js';
import { forgetUninstalled } from './lifecycle.js';
import { People } from './people.js';
import { slackLogger } from './logger.js';
import { slackFileFetcher } from './files.js';
import type { Intake } from '../../src/engine/intake.js';

export interface SlackDeps {
  config: NonNullable<Config['slack']>;
  engine: EnginePort;
  store: Store;
  log: Logger;
  /** One deadline per shared file downloaded (FILE_TIMEOUT). */
  fileTimeoutMs?: number;
  /** Events recorded before they are acknowledged (HTTP only: Socket Mode acknowledges in Bolt). */
  intake?: Intake;
  metrics?: Metrics;
  /** Tests shorten Socket Mode's ping timeout (also its reconnect back-off unit). */
  socketPingTimeoutMs?: number;
  /** Tests turn off the Web API client's retries so a fake's mistake fails fast. */
  webApiRetries?: number;
  editIntervalMs?: number;
  accepting?: () => boolean;
  /** Tests shorten the body deadline and the cap on unverified body reads. */
  bodyDeadlineMs?: number;
  maxUnverifiedReads?: number;
  /** Tests shorten the assistant-thread status refresh (90 s). */
  statusRefreshMs?: number;
  /** Per-method limits instead of Slack's published ones (tests: 'unlimited' for suites not about rate limits). */
  rateLimits?: Record<string, MethodLimit> | 'unlimited';
}

export interface SlackAdapter extends Platform {
  app: App;
  /** The outbound scheduler (its stats: 429s and waits by method). */
  outbound: SlackOutbound;
  /** Mounted on the server at POST /slack/events (HTTP mode only). */
  receiver?: HonoReceiver;
  /** The workspaces the bot answers in, and their clients. */
  workspaces: Workspaces;
  /** Resolves when every event received so far has been handled (tests). */
  idle(): Promise<void>;
  /** Handles the events instances that died had acknowledged and not taken care of; returns how many. */
  replayOrphans(): Promise<number>;
}

/** A clear startup error for a token Slack refuses. */
export class SlackAuthError extends Error {
  override readonly name = 'SlackAuthError';
}

/** SLACK_BOT_TOKEN checked with one auth.test: the bot's ids and its workspace. */
async function checkToken(client: WebClient): Promise<{ client: WebClient; team?: string; bot: { botUserId: string; botId?: string } }> {
  try {
    const auth = await client.auth.test();
    return { client, team: auth.team_id, bot: { botUserId: auth.user_id ?? '', botId: auth.bot_id } };
  } catch (err) {
    const code = (err as { data?: { error?: string } }).data?.error ?? (err as Error).message;
    throw new SlackAuthError(`Slack refused SLACK_BOT_TOKEN (${code}). Check the bot token in your app's "OAuth & Permissions" page.`);
  }
}

/**
 * Starts the Slack side: checks the token with one auth.test, builds the Bolt app on
 * Threadline's Hono receiver (or Socket Mode when SLACK_APP_TOKEN is set), and turns mentions,
 * thread follow-ups, DMs, AI app threads and `/assistant` into engine messages.
 */
export async function startSlack(deps: SlackDeps): Promise<SlackAdapter> {
  const { config, engine, log } = deps;
  const outbound = new SlackOutbound(nodeFetch, {
    apiUrl: config.apiUrl,
    limits: deps.rateLimits,
    onRateLimited: (method, retryAfter) => {
      deps.metrics?.slackRateLimited.inc({ method });
      log.info({ method, retryAfter }, 'slack rate limited this method; it waits, the others go on');
    },
  });
  const clientOptions = {
    slackApiUrl: config.apiUrl,
    // every Web API call goes through the scheduler; the WebClient's own 429 handling would pause all calls
    fetch: outbound.fetch,
    rejectRateLimitedCalls: true,
    // waiting for a slot happens in the scheduler, per method: the client's queue must not limit it
    maxRequestConcurrency: 10_000,
    timeout: 15_000,
    // network errors and 5xx: a few quick retries, not the default ten over half an hour
    retryConfig: deps.webApiRetries !== undefined ? { retries: deps.webApiRetries } : { retries: 3, factor: 2, minTimeout: 500, maxTimeout: 5_000 },
  };
  // one workspace (SLACK_BOT_TOKEN, checked with auth.test) or every workspace that installed the app ("Add to Slack")
  const oauth = config.oauth ? slackOAuth({ config: config.oauth, store: deps.store, log, clientOptions }) : undefined;
  const single = oauth ? undefined : await checkToken(new WebClient(config.botToken, { ...clientOptions, logger: slackLogger(log), logLevel: LogLevel.ERROR }));
  const workspaces: Workspaces = oauth
    ? installedWorkspaces(oauth.installations, { apiUrl: config.apiUrl, clientOptions, fetch: outbound.fetch, log, onToken: (token, bucket) => outbound.bind(token, bucket) })
    : tokenWorkspaces(single!.client, config.botToken, single!.bot);
  let connected = !config.appToken;
  const receiver = config.appToken
    ? new SocketModeReceiver({
        appToken: config.appToken,
        logger: slackLogger(log),
        logLevel: LogLevel.ERROR,
        clientPingTimeout: deps.socketPingTimeoutMs,
        installerOptions: { clientOptions },
      })
    : new HonoReceiver({
        signingSecret: config.signingSecret!,
        log,
        accepting: deps.accepting,
        bodyDeadlineMs: deps.bodyDeadlineMs,
        maxUnverifiedReads: deps.maxUnverifiedReads,
        onEvent: (body) => deps.metrics?.eventsReceived.inc({ platform: 'slack', kind: eventKind(body) }),
        screen: (body, replay) => screen(body, replay),
        intake: deps.intake,
      });
  if (receiver instanceof SocketModeReceiver) {
    receiver.client.on('connected', () => (connected = true));
    receiver.client.on('disconnected', () => (connected = false));
  }
  const app = new App({
    ...(oauth
      ? {
          // some payloads carry authorizations without team_id (Bolt then reads no team at all): the envelope's team_id is the workspace
          authorize: (source: AuthorizeSourceData<boolean>, body?: AnyMiddlewareArgs['body']) =>
            oauth.installer.authorize({ ...source, teamId: source.teamId ?? (source.isEnterpriseInstall ? undefined : teamOf(body) || undefined) }),
        }
      : { token: config.botToken, botId: single!.bot.botId, botUserId: single!.bot.botUserId }),
    receiver,
    clientOptions,
    logger: slackLogger(log),
    logLevel: LogLevel.ERROR,
    ignoreSelf: true,
  });
  const waitingGate = new PerKeyGate(2_000);
  const people = new People((team) => workspaces.client(team), log);
  const caps = newCapabilities(config.agentView);
  const port: PlatformPort = {
    keys: slackKeys,
    sinkFor: (target: ReplyTarget, place?: ReplyPlace) =>
      new SlackSink(workspaces.client((target as SlackTarget).team), target as SlackTarget, log, {
        continues: slackPlaceOf(place),
        caps,
        editIntervalMs: deps.editIntervalMs,
        statusRefreshMs: deps.statusRefreshMs,
        reserve: (method, maxWaitMs, headroom) => outbound.reserve(workspaces.bucket((target as SlackTarget).team), method, maxWaitMs, { headroom }),
        mayShowWaiting: (channel) => waitingGate.pass(channel),
        onReply: (type) => deps.metrics?.repliesSent.inc({ platform: 'slack', type }),
      }),
    fetchFile: slackFileFetcher({ hosts: config.filesHosts, token: (ref) => workspaces.token(ref.space ?? ''), timeoutMs: deps.fileTimeoutMs }),
  };
  const allowed = (team: string, channel: string) =>
    (config.teamIds.length === 0 || config.teamIds.includes(team)) && (config.channelIds.length === 0 || config.channelIds.includes(channel) || channel.startsWith('D'));

  const routeOf = async (event: SlackMessageEvent, team: string, body?: Record<string, unknown>): Promise<SlackRoute | { ignore: string }> => {
    const bot = await workspaces.get(team, orgWideOf(body));
    if (!bot) return { ignore: 'not installed in this workspace' };
    return routeSlackMessage(event, {
      team,
      botUserId: bot.botUserId,
      botId: bot.botId,
      allowBots: config.allowBots,
      agentView: config.agentView,
      inConversation: (key) => engine.hasConversation(key),
    });
  };
  const teamOf = (body: unknown, e: Partial<SlackMessageEvent> = {}) => String((body as { team_id?: string }).team_id ?? e.team ?? single?.team ?? '');

  const messages = messageScreen({ engine, log, allowed, routeOf, teamOf });
  const screen: Screen = async (body, replay) => ((await forgetUninstalled(body, { installations: oauth?.installations, workspaces, engine, log })) ? { drop: true } : messages(body, replay));
  const socket =
    receiver instanceof SocketModeReceiver
      ? durableSocketEvents(receiver, {
          app,
          screen,
          intake: deps.intake,
          log,
          accepting: deps.accepting,
          onEvent: (body) => deps.metrics?.eventsReceived.inc({ platform: 'slack', kind: eventKind(body) }),
        })
      : undefined;

  // Handlers in flight, so idle() can wait for them in Socket Mode too (no HTTP request to await there).
  const pending = new PendingWork();
  const track = <T>(p: Promise<T>) => pending.track(p);
  const onMessage = (event: SlackMessageEvent, teamId: string, context: Record<string, unknown>) => track(handleMessage(event, teamId, context));
  const handleMessage = async (event: SlackMessageEvent, teamId: string, context: Record<string, unknown>) => {
    const team = teamId || event.team || single?.team || '';
    if (!allowed(team, event.channel)) return;
    // Over HTTP the screen has routed it already; Socket Mode events are routed here.
    const route = (context.threadlineRoute as SlackRoute | undefined) ?? (await routeOf(event, team));
    if ('ignore' in route) return;
    const claimed = context.threadlineClaimed === true;
    const ai = route.target.threadTs && route.kind === 'dm' ? await deps.store.get<AiThread | 1>(aiThreadKey(event.channel, route.target.threadTs)) : undefined;
    route.target.assistantThread = ai ? true : undefined;
    route.target.title = route.text.replace(/\s+/g, ' ').trim().slice(0, 200) || undefined;
    const author = await people.get(event.user!, team);
    // agent_view: what the person has in view, folded into the message or told by app_context_changed
    const agentContext = route.kind === 'dm' && config.agentView ? (event.app_context ?? (await deps.store.get<AgentContext>(agentContextKey(team, event.channel)))) : undefined;
    const inbound: Inbound = {
      ...route,
      claimed,
      author,
      at: Math.round(Number(event.ts) * 1000),
      metadata: { slack_team: team, slack_channel: event.channel, slack_ts: event.ts, slack_user: event.user! },
      context: viewing(ai, author.name) ?? agentContextText(agentContext, author.name),
      sink: port.sinkFor(route.target),
    };
    await engine.receive(inbound);
  };

  const onEvent: SlackEventHandler = async ({ event, body, context }) => onMessage(event as unknown as SlackMessageEvent, String((body as { team_id?: string }).team_id ?? ''), context);
  listenToEvents(app, { app_mention: onEvent, message: onEvent, ...agentEventHandlers({ store: deps.store, log, engine, caps, allowed, teamOf, workspaces, track }) });

  // 👍/👎 under a reply: a metric and a log line naming the conversation and the turn.
  // (No recorded feedback_buttons action: the shape is the block_actions envelope Slack records for
  // buttons, with the action's `value` being the clicked button's, per the element's reference.)
  app.action(FEEDBACK_ACTION, async ({ ack, body, action }) => {
    await ack();
    const b = body as {
      team?: { id?: string };
      user?: { id?: string };
      channel?: { id?: string };
      container?: { channel_id?: string; thread_ts?: string; message_ts?: string };
      message?: { thread_ts?: string; ts?: string };
    };
    const a = action as { value?: string; block_id?: string };
    const value = a.value === 'good' || a.value === 'bad' ? a.value : 'unknown';
    const channel = b.channel?.id ?? b.container?.channel_id ?? '';
    const threadTs = b.message?.thread_ts ?? b.container?.thread_ts ?? b.message?.ts;
    const team = b.team?.id ?? single?.team ?? '';
    const conversation = channel ? slackKeys.encode({ team, channel, threadTs }) : undefined;
    deps.metrics?.feedback.inc({ platform: 'slack', value });
    log.info({ conversation, runId: a.block_id?.slice(FEEDBACK_ACTION.length + 1) || undefined, value, user: b.user?.id }, 'feedback on a reply');
  });

  app.command('/assistant', async ({ command, ack, client }) => {
    await ack();
    await track(handleCommand(command, client));
  });
  const handleCommand = async (command: SlashCommand, client: App['client']) => {
    const team = command.team_id;
    if (!allowed(team, command.channel_id)) return;
    const author = await people.get(command.user_id, team);
    const text = command.text.trim();
    const base = {
      author,
      eventId: `slack-command:${command.trigger_id}`,
      at: Date.now(),
      channelKey: slackKeys.encode({ team, channel: command.channel_id }),
      metadata: { slack_team: team, slack_channel: command.channel_id, slack_user: command.user_id },
    };
    if (!text || parseCommand(text)) {
      const target: SlackTarget = { platform: 'slack', team, channel: command.channel_id, user: command.user_id, responseUrl: command.response_url };
      const key = slackKeys.encode({ team, channel: command.channel_id });
      await engine.receive({ ...base, key, target, text: text || 'help', kind: 'command', group: !command.channel_id.startsWith('D'), sink: port.sinkFor(target) });
      return;
    }
    // A question: post it in the channel and answer in its thread.
    let threadTs: string;
    try {
      const posted = await client.chat.postMessage({ channel: command.channel_id, text: `*<@${command.user_id}> asked:* ${text}` });
      threadTs = String(posted.ts);
    } catch (err) {
      const code = (err as { data?: { error?: string } }).data?.error ?? '';
      if (code !== 'not_in_channel' && code !== 'channel_not_found') throw err;
      // The bot is not in this channel: answer the person alone, through the command's response_url.
      log.info({ channel: command.channel_id, error: code }, 'slack: /assistant in a channel the bot is not in; answering through response_url');
      const target: SlackTarget = { platform: 'slack', team, channel: command.channel_id, user: command.user_id, responseUrl: command.response_url, viaResponseUrl: true };
      const key = slackKeys.encode({ team, channel: command.channel_id, threadTs: `cmd${command.trigger_id.replace(/[^\w.]/g, '').slice(0, 40)}` });
      await engine.receive({ ...base, key, target, text, kind: 'command', group: false, sink: port.sinkFor(target) });
      return;
    }
    const target: SlackTarget = { platform: 'slack', team, channel: command.channel_id, threadTs, user: command.user_id, responseUrl: command.response_url };
    await engine.receive({ ...base, key: slackKeys.encode({ team, channel: command.channel_id, threadTs }), target, text, kind: 'command', group: true, sink: port.sinkFor(target) });
  };

  app.error(async (err) => {
    log.error({ err: { message: err.message, code: (err as { code?: string }).code } }, 'slack listener error');
  });

  await app.start();
  log.info(
    {
      botUserId: single?.bot.botUserId,
      team: single?.team,
      workspaces: workspaces.mode === 'oauth' ? 'installed through OAuth (/slack/install)' : 'one (SLACK_BOT_TOKEN)',
      mode: config.appToken ? 'socket' : 'http',
    },
    'slack connected',
  );
  const replayOrphans = async (): Promise<number> => {
    const replay = receiver instanceof HonoReceiver ? (b: Record<string, unknown>, e: string) => receiver.replay(b, e) : socket?.replay;
    if (!deps.intake || !replay) return 0;
    let n = 0;
    for (const o of await deps.intake.orphans()) {
      // one instance replays an orphan, even when several find it at once
      if (!(await deps.store.claim(`replay:${o.id || o.entry.slice(0, 64)}`, 10 * 60_000))) continue;
      await replay(o.body, o.entry);
      n++;
    }
    if (n) log.info({ events: n }, 'replayed events a stopped instance had acknowledged');
    return n;
  };

  return {
    ...port,
    name: 'slack',
    routes: routesOf(receiver instanceof HonoReceiver ? receiver.routes : undefined, oauth?.routes),
    app,
    outbound,
    replayOrphans,
    receiver: receiver instanceof HonoReceiver ? receiver : undefined,
    workspaces,
    isConnected: () => connected,
    idle: async () => {
      if (receiver instanceof HonoReceiver) await receiver.idle();
      await socket?.idle();
      await pending.idle();
      await engine.idle();
    },
    stop: async () => {
      if (receiver instanceof SocketModeReceiver) {
        const gone = new Promise<void>((r) => {
          if (!connected) return r();
          receiver.client.once('disconnected', () => r());
        });
        await app.stop();
        await Promise.race([gone, new Promise((r) => setTimeout(r, 2_000).unref())]);
      } else {
        await app.stop();
      }
    },
  };
}

/** The Enterprise Grid org whose org-wide install an event came through, if it did. */
function orgWideOf(body: Record<string, unknown> | undefined): string | undefined {
  const b = body as { enterprise_id?: string; is_enterprise_install?: boolean; authorizations?: Array<{ is_enterprise_install?: boolean }> } | undefined;
  return (b?.is_enterprise_install ?? b?.authorizations?.[0]?.is_enterprise_install) ? b?.enterprise_id : undefined;
}

/** Events (HTTP mode) and "Add to Slack" (OAuth mode) on one router; either may be absent. */
function routesOf(...parts: Array<Hono | undefined>): Hono | undefined {
  const present = parts.filter((p) => !!p);
  if (present.length < 2) return present[0];
  const all = new Hono();
  for (const p of present) all.route('/', p);
  return all;
}

function eventKind(body: Record<string, unknown>): string {
  if (body.type === 'event_callback') return String((body.event as { type?: string })?.type ?? 'event');
  if (typeof body.command === 'string') return 'slash_command';
  return typeof body.type === 'string' ? body.type : 'unknown';
}

/** Bolt's logger interface on top of pino (tokens never reach it: pino redacts). */
