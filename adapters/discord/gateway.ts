import { Client, Events, Routes, type APIApplication, type APIGatewayBotInfo, type APIUser, type ClientOptions } from 'discord.js';
import type { Config } from '../../src/config.js';
import type { Logger } from '../../src/log.js';
import type { Store } from '../../src/store/index.js';
import { ShardLeases, sharedIdentifyThrottler, type ShardSession } from './shards.js';

export class DiscordAuthError extends Error {
  override readonly name = 'DiscordAuthError';
}

const REFUSED = 'Discord refused DISCORD_TOKEN. Copy the bot token from the Developer Portal (Bot → Reset Token).';

/** What to throw for a failed Discord call: a DiscordAuthError when Discord refused the token, else the error itself. */
function authError(err: unknown): unknown {
  const e = err as { code?: string; status?: number; message?: string };
  return e.code === 'TokenInvalid' || e.status === 401 || /401|Unauthorized|invalid token/i.test(e.message ?? '') ? new DiscordAuthError(REFUSED) : err;
}

/** The token checked over REST (also on an instance that runs no shard): the application and the bot user. */
export async function checkToken(rest: Client): Promise<{ applicationId: string; botId: string; tag: string }> {
  try {
    const [app, user] = await Promise.all([rest.rest.get(Routes.currentApplication()) as Promise<APIApplication>, rest.rest.get(Routes.user()) as Promise<APIUser>]);
    return { applicationId: app.id, botId: user.id, tag: user.discriminator && user.discriminator !== '0' ? `${user.username}#${user.discriminator}` : user.username };
  } catch (err) {
    throw authError(err);
  }
}

/**
 * The gateway side of the bot. On Redis, shards are leased (ShardLeases): each instance runs the
 * shards it holds, one discord.js client per shard (`shards: [id]`, `shardCount`, @discordjs/ws
 * underneath), identifies throttled across instances. Without Redis, one client runs them all:
 * DISCORD_SHARDS as discord.js's own `shards`/`shardCount` (`auto` included), or its default.
 */
export async function startGateway(d: {
  config: NonNullable<Config['discord']>;
  store: Store;
  log: Logger;
  options: ClientOptions;
  rest: Client;
  attach: (client: Client) => void;
  sessions: Set<Client>;
}): Promise<{ shards(): number[]; describe(): string; stop(): Promise<void> }> {
  const connect = async (shardOptions: Partial<ClientOptions>): Promise<ShardSession & { client: Client }> => {
    const client = new Client({ ...d.options, ...shardOptions });
    d.attach(client);
    const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
    try {
      await client.login(d.config.token);
    } catch (err) {
      await client.destroy().catch(() => undefined); // the login error below is the one to report
      throw authError(err);
    }
    await ready;
    d.sessions.add(client);
    return {
      client,
      close: async () => {
        d.sessions.delete(client);
        await client.destroy();
      },
    };
  };

  if (d.store.kind !== 'redis') {
    const n = d.config.shards;
    const all = await connect(n === undefined ? {} : n === 'auto' ? { shards: 'auto' } : { shards: [...Array(n).keys()], shardCount: n });
    return {
      shards: () => {
        const ids: unknown = all.client.options.shards;
        return Array.isArray(ids) ? ids.map(Number) : [0];
      },
      describe: () => `${all.client.options.shardCount ?? 1} in this instance`,
      stop: () => all.close(),
    };
  }
  const info = (await d.rest.rest.get(Routes.gatewayBot()).catch((err: unknown) => {
    throw authError(err);
  })) as APIGatewayBotInfo;
  const count = d.config.shards === 'auto' ? Math.max(1, info.shards) : (d.config.shards ?? 1);
  const throttler = sharedIdentifyThrottler(d.store, info.session_start_limit.max_concurrency);
  const leases = new ShardLeases({
    store: d.store,
    log: d.log,
    count,
    ttlMs: d.config.shardLeaseMs,
    open: (shard) => connect({ shards: [shard], shardCount: count, ws: { buildIdentifyThrottler: () => Promise.resolve(throttler) } }),
  });
  await leases.start();
  return {
    shards: () => leases.shards(),
    describe: () => `${leases.shards().join(',') || 'none (standby)'} of ${count}, leased on Redis`,
    stop: () => leases.stop(),
  };
}
