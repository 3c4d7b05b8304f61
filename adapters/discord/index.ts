import {
  Client,
  RESTEvents,
  Routes,
  type ClientOptions,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  Partials,
  PermissionFlagsBits,
  Status,
  type ChatInputCommandInteraction,
  type Interaction,
  type Message,
  type ThreadChannel,
} from 'discord.js';
import type { Config } from '../../src/config.js';
import { parseCommand } from '../../src/engine/commands.js';
import type { EnginePort } from '../../src/engine/port.js';
import type { Platform } from '../../src/platform.js';
import { discordChannelKey, discordKeys } from './key.js';
import type { Author, Inbound, InboundKind, PlatformPort, ReplyPlace, ReplyTarget } from '../../src/engine/types.js';
import type { Logger } from '../../src/log.js';
import type { Metrics } from '../../src/metrics.js';
import { PendingWork } from '../../src/pending-work.js';
import { PerKeyGate } from '../../src/engine/format/throttle.js';
import type { Store } from '../../src/store/index.js';
import { inviteUrl, slashCommands } from './commands.js';
import { classifyDiscordMessage, cleanDiscordText, threadName, type DiscordTarget } from './inbound.js';
import { DiscordSink } from './sink.js';
import { discordPlaceOf } from './place.js';
import { checkToken, startGateway } from './gateway.js';
import { discordFileFetcher, discordFiles } from './files.js';

export interface DiscordDeps {
  config: NonNullable<Config['discord']>;
  engine: EnginePort;
  store: Store;
  log: Logger;
  metrics?: Metrics;
  restRetries?: number;
  editIntervalMs?: number;
  /** How often the typing indicator is renewed (default 8 s; tests shorten it). */
  typingEveryMs?: number;
  /** One deadline per shared file downloaded (FILE_TIMEOUT). */
  fileTimeoutMs?: number;
  /** The named assistants (ASSISTANTS_FILE), offered as choices of /assistant. */
  assistantNames?: string[];
  /** Discord refused a request for the bot's global rate (every route waits): fewer turns at once. */
  onGlobalLimit?: () => void;
}

/** /assistant's options as the words the engine reads (`assistant use support`). */
function assistantText(action: string, name: string | null): string {
  if (action === 'list') return 'assistant list';
  if (action === 'use') return name ? `assistant use ${name}` : 'assistant';
  return 'assistant';
}

export interface DiscordAdapter extends Platform {
  /** A REST-only client (never logged in): sessions are per shard, see `shards`. */
  client: Client;
  /** The gateway shards this instance runs. */
  shards(): number[];
  botId: string;
  inviteUrl: string;
  idle(): Promise<void>;
}

export { DiscordAuthError } from './gateway.js';

/**
 * Starts the Discord side: discord.js over the gateway (intents Guilds, GuildMessages,
 * DirectMessages, MessageContent, and Partials.Channel so DMs arrive), slash commands registered
 * by bulk overwrite, DMs answered in the DM, mentions in a channel answered in a thread opened on
 * the message, follow-ups in those threads answered without a mention.
 */
export async function startDiscord(deps: DiscordDeps): Promise<DiscordAdapter> {
  const { config, engine, log } = deps;
  const clientOptions: ClientOptions = {
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.DirectMessages, GatewayIntentBits.MessageContent],
    partials: [Partials.Channel],
    // Nothing Threadline sends pings anyone: every send, edit, interaction reply and follow-up
    // inherits this (the model's `@everyone` shows as text); no reply pings its asker either.
    allowedMentions: { parse: [], repliedUser: false },
    rest: { api: config.apiUrl, version: '10', ...(deps.restRetries !== undefined ? { retries: deps.restRetries } : {}), timeout: 15_000 },
    waitGuildTimeout: 5_000,
  };
  // REST only (never logged in): the application, slash commands, and replies whose channel no
  // gateway session here has seen (a standby instance, a reply resumed after a restart)
  const rest = new Client(clientOptions);
  rest.token = config.token;
  rest.rest.setToken(config.token);
  /** The gateway sessions this instance runs (one per shard it leases, or one for all). */
  const sessions = new Set<Client>();
  const clientFor = (channel: string) => [...sessions].find((c) => c.channels.cache.has(channel)) ?? rest;
  const waitingGate = new PerKeyGate(8_000);
  const interactions = new Map<string, ChatInputCommandInteraction>();
  const pending = new PendingWork();
  const track = (p: Promise<unknown>) => void pending.track(p);
  const port: PlatformPort = {
    keys: discordKeys,
    sinkFor: (target: ReplyTarget, place?: ReplyPlace) => {
      const t = target as DiscordTarget;
      return new DiscordSink(clientFor(t.channel), t, log, {
        // a reply the last process was posting: completed in the messages it was in
        continues: discordPlaceOf(place),
        interaction: t.interaction ? interactions.get(t.interaction) : undefined,
        editIntervalMs: deps.editIntervalMs,
        typingEveryMs: deps.typingEveryMs,
        mayShowWaiting: (channel) => waitingGate.pass(channel),
        onReply: (type) => deps.metrics?.repliesSent.inc({ platform: 'discord', type }),
      });
    },
    fetchFile: discordFileFetcher({ hosts: config.cdnHosts, timeoutMs: deps.fileTimeoutMs }),
  };
  const allowed = (guildId: string | null, channelId: string, parentId?: string | null) =>
    !guildId ||
    ((config.guildIds.length === 0 || config.guildIds.includes(guildId)) &&
      (config.channelIds.length === 0 || config.channelIds.includes(channelId) || (!!parentId && config.channelIds.includes(parentId))));

  /**
   * DISCORD_DMS: whether a person may DM the bot. `members`: only people in one of the allowed
   * servers (DISCORD_GUILD_IDS, else the servers of DISCORD_CHANNEL_IDS), looked up with one REST
   * call per server and remembered for ten minutes.
   */
  const memberCache = new Map<string, { ok: boolean; until: number }>();
  /** The servers of DISCORD_CHANNEL_IDS: from a session's cache, else one REST call per channel. */
  const serversOf = async (channels: string[]): Promise<string[]> => {
    const ids = await Promise.all(
      channels.map(async (id) => {
        const cached = [...sessions].map((c) => c.channels.cache.get(id) as { guildId?: string } | undefined).find(Boolean);
        return cached?.guildId ?? ((await rest.channels.fetch(id, { allowUnknownGuild: true, cache: false }).catch(() => null)) as { guildId?: string } | null)?.guildId;
      }),
    );
    return [...new Set(ids.filter((g): g is string => !!g))];
  };
  const mayDm = async (userId: string): Promise<boolean> => {
    if (config.dms === 'all') return true;
    if (config.dms === 'off') return false;
    const hit = memberCache.get(userId);
    if (hit && hit.until > Date.now()) return hit.ok;
    const guilds = config.guildIds.length ? config.guildIds : await serversOf(config.channelIds);
    let ok = false;
    for (const id of guilds) {
      // one REST call per server, whichever shard (and instance) runs it
      const member = await rest.rest.get(Routes.guildMember(id, userId)).catch((err: unknown) => {
        // Unknown Member (10007) is the answer "not in this server" (docs/discord.md §5); anything else is worth a line
        if ((err as { code?: unknown }).code !== 10007) log.warn({ err, guild: id }, 'could not check server membership for a DM');
        return undefined;
      });
      if (member) {
        ok = true;
        break;
      }
    }
    memberCache.set(userId, { ok, until: Date.now() + 10 * 60_000 });
    return ok;
  };

  /** Discord's REST limits, as discord.js meets them (it waits each out per route): a metric and a line. */
  const watchLimits = (client: Client) => {
    client.rest.on(RESTEvents.Response, (request, response) => {
      if (response.status !== 429) return;
      deps.metrics?.discordRateLimited.inc({ route: request.route, kind: '429' });
      // the header discord.js itself reads to tell the bot's global limit from a route's
      if (response.headers.has('x-ratelimit-global')) {
        log.warn({ route: request.route, method: request.method }, 'discord rate limited the bot globally: fewer turns at once until calls go through again');
        deps.onGlobalLimit?.();
        return;
      }
      log.info({ route: request.route, method: request.method }, 'discord rate limited this route; discord.js waits and sends again');
    });
    client.rest.on(RESTEvents.RateLimited, (info) => deps.metrics?.discordRateLimited.inc({ route: info.route, kind: 'waited' }));
  };
  watchLimits(rest);

  /** Every gateway session gets the same handlers. */
  const attach = (client: Client) => {
    watchLimits(client);
    client.on(Events.MessageCreate, (message) => {
      deps.metrics?.eventsReceived.inc({ platform: 'discord', kind: 'message' });
      track(onMessage(message).catch((err: unknown) => log.error({ err }, 'discord message handler failed')));
    });
    client.on(Events.InteractionCreate, (interaction) => {
      deps.metrics?.eventsReceived.inc({ platform: 'discord', kind: 'interaction' });
      track(onInteraction(interaction).catch((err: unknown) => log.error({ err }, 'discord interaction handler failed')));
    });
    client.on(Events.Error, (err) => log.error({ err }, 'discord client error'));
    // A malformed gateway packet makes discord.js's packet handler throw inside the socket's message
    // callback, where nothing catches it. Catch it here: log it, drop the packet, keep the connection.
    const ws = client.ws as unknown as { handlePacket: (packet?: { t?: string }, shard?: unknown) => boolean };
    const handlePacket = ws.handlePacket.bind(client.ws);
    ws.handlePacket = (packet, shard) => {
      try {
        return handlePacket(packet, shard);
      } catch (err) {
        log.warn({ event: packet?.t, err: { message: (err as Error).message } }, 'discord packet could not be handled; dropped');
        return true;
      }
    };
    client.on(Events.ShardDisconnect, (_e, shard) => log.warn({ shard }, 'discord gateway disconnected'));
  };

  const author = (message: Message): Author => ({
    id: message.author.id,
    name: message.member?.displayName ?? message.author.globalName ?? message.author.username,
    isAdmin: !!message.member?.permissions.has(PermissionFlagsBits.ManageGuild),
    mayConfigure: !!message.member?.permissions.has(PermissionFlagsBits.ManageChannels),
  });

  async function onMessage(message: Message): Promise<void> {
    const client = message.client;
    if (message.author.bot || message.author.id === client.user?.id) return; // bots, and always ourselves
    if (message.system) return;
    const isDm = !message.guildId;
    const channel = message.channel;
    const parentId = channel.isThread() ? (channel.parentId ?? undefined) : undefined;
    if (!allowed(message.guildId, message.channelId, parentId)) return;
    if (isDm && !(await mayDm(message.author.id))) {
      log.info({ user: message.author.id, policy: config.dms }, 'discord DM refused (DISCORD_DMS)');
      // one short answer a day per person, so a refused DM is not met with silence
      const tell = await deps.store.claim(`discord-dm-refused:${message.author.id}`, 86_400_000).catch((err: unknown) => {
        log.warn({ err }, 'could not record the refused DM; not answering it');
        return false;
      });
      if (tell) {
        await message
          .reply({ content: 'I only answer people in the servers I am set up for. Please ask me there.', allowedMentions: { parse: [], repliedUser: false } })
          .catch((err: unknown) => log.warn({ err, user: message.author.id }, 'could not answer a refused DM'));
      }
      return;
    }
    const botId = client.user.id;
    const mentioned = message.mentions.users.has(botId);
    const names = new Map([...message.mentions.users.values()].map((u) => [u.id, message.mentions.members?.get(u.id)?.displayName ?? u.globalName ?? u.username]));
    const text = cleanDiscordText(message.content, botId, names);
    const c = classifyDiscordMessage({ botId, isDm, guildId: message.guildId ?? undefined, channelId: message.channelId, parentId, mentioned });
    const channelKey = discordChannelKey(isDm ? null : message.guildId, message.channelId);
    let kind: InboundKind;
    let key: string;
    let target: DiscordTarget;
    if (c.kind === 'open-thread' && parseCommand(text)) {
      // A command needs no thread of its own: answer it in the channel.
      kind = 'mention';
      key = discordKeys.encode({ guild: message.guildId!, channel: message.channelId, thread: message.channelId });
      target = { platform: 'discord', channel: message.channelId, replyTo: message.id };
    } else if (c.kind === 'open-thread') {
      // Duplicate deliveries would open the thread twice; the engine's dedupe then drops the message.
      const thread = await openThread(message, text);
      if (!thread) return;
      kind = 'mention';
      key = discordKeys.encode({ guild: message.guildId!, channel: message.channelId, thread: thread.id });
      target = { platform: 'discord', channel: thread.id };
    } else if (c.kind === 'thread') {
      key = c.key!;
      const known = await engine.hasConversation(key);
      kind = known ? 'thread' : 'ambient';
      target = { platform: 'discord', channel: message.channelId, replyTo: message.id };
    } else if (c.kind === 'ambient') {
      kind = 'ambient';
      key = discordKeys.encode({ guild: message.guildId!, channel: message.channelId, thread: message.channelId });
      target = { platform: 'discord', channel: message.channelId, replyTo: message.id };
    } else {
      kind = c.kind;
      key = c.key!;
      target = { platform: 'discord', channel: message.channelId, replyTo: message.id };
    }
    const inbound: Inbound = {
      key,
      target,
      author: author(message),
      text,
      kind,
      eventId: `discord:${message.id}`,
      group: !isDm,
      channelKey,
      at: message.createdTimestamp,
      metadata: { discord_channel: message.channelId, discord_message: message.id, discord_user: message.author.id, ...(message.guildId ? { discord_guild: message.guildId } : {}) },
      files: discordFiles(message.attachments),
      sink: port.sinkFor(target),
    };
    await engine.receive(inbound);
  }

  /** Opens a thread on the message; when one exists already (160004, docs/discord.md §3), uses it. */
  async function openThread(message: Message, text: string): Promise<ThreadChannel | undefined> {
    try {
      return await message.startThread({ name: threadName(text), autoArchiveDuration: 1440 });
    } catch (err) {
      if (err instanceof DiscordAPIError && Number(err.code) === 160004) {
        // 160004: a thread exists for this message already (a retry, another instance): use it if we can see it
        const existing = message.thread ?? (await message.client.channels.fetch(message.id).catch(() => null));
        if (existing?.isThread()) return existing;
      }
      log.warn({ channel: message.channelId, err: { message: (err as Error).message, code: (err as DiscordAPIError).code } }, 'could not open a thread; answering in the channel');
      // Without thread permission, answer in the channel as a reply instead of staying silent.
      const target: DiscordTarget = { platform: 'discord', channel: message.channelId, replyTo: message.id };
      await engine.receive({
        key: discordKeys.encode({ guild: message.guildId!, channel: message.channelId, thread: message.id }),
        target,
        author: author(message),
        text,
        kind: 'mention',
        eventId: `discord:${message.id}`,
        group: true,
        channelKey: discordChannelKey(message.guildId, message.channelId),
        at: message.createdTimestamp,
        sink: port.sinkFor(target),
      });
      return undefined;
    }
  }

  async function onInteraction(interaction: Interaction): Promise<void> {
    if (!interaction.isChatInputCommand()) return;
    if (!allowed(interaction.guildId, interaction.channelId) || (!interaction.guildId && !(await mayDm(interaction.user.id)))) {
      await interaction.reply({ content: 'Threadline is not enabled here.', ephemeral: true }).catch((err: unknown) => log.warn({ err }, 'could not answer a refused command'));
      return;
    }
    await interaction.deferReply();
    interactions.set(interaction.id, interaction);
    setTimeout(() => interactions.delete(interaction.id), 15 * 60_000).unref(); // interaction tokens last 15 minutes
    const name = interaction.commandName;
    const text =
      name === 'ask'
        ? interaction.options.getString('prompt', true)
        : name === 'notes'
          ? `notes ${interaction.options.getString('action', true)} ${interaction.options.getString('title') ?? ''}`.trim()
          : name === 'assistant'
            ? assistantText(interaction.options.getString('action', true), interaction.options.getString('name'))
            : name;
    const channel = interaction.channel;
    const isDm = !interaction.guildId;
    const parentId = channel?.isThread() ? channel.parentId : undefined;
    // In a thread: that thread's conversation; in a DM: the DM's; in a channel: the channel's own.
    const key = isDm ? `discord:dm:${interaction.channelId}` : `discord:${interaction.guildId}:${parentId ?? interaction.channelId}:${interaction.channelId}`;
    const target: DiscordTarget = { platform: 'discord', channel: interaction.channelId, interaction: interaction.id };
    const member = interaction.inCachedGuild() ? interaction.member : undefined;
    await engine.receive({
      key,
      target,
      author: {
        id: interaction.user.id,
        name: member?.displayName ?? interaction.user.globalName ?? interaction.user.username,
        isAdmin: !!interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild),
        mayConfigure: !!interaction.memberPermissions?.has(PermissionFlagsBits.ManageChannels),
      },
      text,
      kind: 'command',
      eventId: `discord-interaction:${interaction.id}`,
      group: !isDm,
      channelKey: discordChannelKey(isDm ? null : interaction.guildId, interaction.channelId),
      at: interaction.createdTimestamp,
      sink: port.sinkFor(target),
    });
  }

  const me = await checkToken(rest);
  const gateway = await startGateway({ config, store: deps.store, log, options: clientOptions, rest, attach, sessions });
  try {
    await rest.rest.put(config.guildId ? Routes.applicationGuildCommands(me.applicationId, config.guildId) : Routes.applicationCommands(me.applicationId), {
      body: slashCommands(deps.assistantNames),
    });
  } catch (err) {
    log.warn({ err: { message: (err as Error).message } }, 'could not register slash commands');
  }
  const invite = inviteUrl(me.applicationId);
  log.info({ bot: me.tag, invite, commands: config.guildId ? `guild ${config.guildId}` : 'global', shards: gateway.describe() }, 'discord connected; invite the bot with this URL');
  return {
    ...port,
    name: 'discord',
    client: rest,
    botId: me.botId,
    inviteUrl: invite,
    shards: () => gateway.shards(),
    // every session this instance runs is ready; one that runs none (a standby on Redis) is healthy too
    isConnected: () => [...sessions].every((c) => c.isReady() && c.ws.status === Status.Ready),
    idle: async () => {
      await pending.idle();
      await engine.idle();
    },
    stop: async () => {
      await gateway.stop();
      await rest.destroy();
    },
  };
}
