import type { DiscordCall } from './discord.js';

/** The shard a server's events go to: (guild_id >> 22) % num_shards; DMs (no server) go to shard 0. */
export function shardForGuild(guildId: unknown, count: number): number {
  // a fuzzed payload's guild_id may be anything: what is not a snowflake goes where DMs go
  return typeof guildId === 'string' && /^\d{1,20}$/.test(guildId) ? Number((BigInt(guildId) >> 22n) % BigInt(count)) : 0;
}

/** The gateway's READY for one shard (the fields discord.js reads), as the fake Discord sends it. */
export function readyPayload(f: { user: unknown; guildId: string; botId: string; url: string; sessionId: string }, shard = 0, count = 1) {
  return {
    v: 10,
    user: f.user,
    guilds: shardForGuild(f.guildId, count) === shard ? [{ id: f.guildId, unavailable: true }] : [],
    session_id: f.sessionId,
    resume_gateway_url: f.url.replace('http', 'ws'),
    application: { id: f.botId, flags: 0 },
    shard: [shard, count],
    private_channels: [],
    relationships: [],
    user_settings: {},
  };
}

/** A GUILD_CREATE for the fake guild: its text channels and the bot as its one member. */
export function guildPayload(f: { user: unknown; guildId: string; channels: string[] }) {
  const now = new Date().toISOString();
  return {
    id: f.guildId,
    name: 'Fake Guild',
    owner_id: '1',
    icon: null,
    splash: null,
    discovery_splash: null,
    afk_channel_id: null,
    afk_timeout: 300,
    verification_level: 0,
    default_message_notifications: 0,
    explicit_content_filter: 0,
    mfa_level: 0,
    system_channel_id: null,
    system_channel_flags: 0,
    rules_channel_id: null,
    vanity_url_code: null,
    description: null,
    banner: null,
    premium_tier: 0,
    preferred_locale: 'en-US',
    public_updates_channel_id: null,
    nsfw_level: 0,
    premium_progress_bar_enabled: false,
    application_id: null,
    max_members: 500000,
    roles: [{ id: f.guildId, name: '@everyone', permissions: '1122573558787', position: 0, color: 0, hoist: false, managed: false, mentionable: false, flags: 0 }],
    emojis: [],
    stickers: [],
    features: [],
    channels: f.channels.map((id, i) => ({
      id,
      type: 0,
      name: `channel-${i}`,
      position: i,
      permission_overwrites: [],
      parent_id: null,
      nsfw: false,
      rate_limit_per_user: 0,
      last_message_id: null,
      topic: null,
    })),
    members: [{ user: f.user, roles: [], joined_at: now, deaf: false, mute: false, flags: 0 }],
    member_count: 2,
    joined_at: now,
    large: false,
    unavailable: false,
    threads: [],
    presences: [],
    voice_states: [],
    stage_instances: [],
    guild_scheduled_events: [],
  };
}

/** A message of the bot as Discord answers a create or an edit. */
export function messagePayload(m: { id: string; channelId: string; body: any; files: DiscordCall['files']; url: string; author: unknown; nextId: () => string }) {
  const { body } = m;
  return {
    id: m.id,
    channel_id: m.channelId,
    type: body?.message_reference ? 19 : 0,
    author: m.author,
    content: body?.content ?? '',
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    attachments: m.files.map((f, i) => ({
      id: m.nextId(),
      filename: f.name,
      size: f.bytes.length,
      url: `${m.url}/attachments/${i}/${f.name}`,
      proxy_url: `${m.url}/p/${f.name}`,
      content_type: f.type,
    })),
    embeds: [],
    mentions: [],
    mention_roles: [],
    mention_everyone: false,
    pinned: false,
    tts: false,
    flags: 0,
    components: [],
    ...(body?.nonce !== undefined ? { nonce: body.nonce } : {}),
    ...(body?.message_reference ? { message_reference: { ...body.message_reference, channel_id: m.channelId } } : {}),
  };
}

/** The body Discord answers to content over 2,000 characters or more than 10 files (shape as documented for 50035). */
export function invalidMessageBody(body: any, files: DiscordCall['files']): unknown {
  const errors: Record<string, unknown> = {};
  if (typeof body?.content === 'string' && body.content.length > 2000) errors.content = { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 2000 or fewer in length.' }] };
  if (files.length > 10 || (Array.isArray(body?.attachments) && body.attachments.length > 10))
    errors.attachments = { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 10 or fewer in length.' }] };
  return Object.keys(errors).length ? { code: 50035, errors, message: 'Invalid Form Body' } : undefined;
}
