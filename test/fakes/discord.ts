import { createServer, type IncomingMessage, type Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { CallLog, closeServer, listenLocal, readBody } from './call-log.js';
import { guildPayload, invalidMessageBody, messagePayload, readyPayload, shardForGuild } from './discord-payloads.js';

export interface DiscordCall {
  method: string;
  route: string;
  body: any;
  files: Array<{ name: string; bytes: Buffer; type: string }>;
  at: number;
  result?: any;
  hr?: number;
}

export interface GatewayFrame {
  op: number;
  d?: any;
  s?: number;
  t?: string;
  at: number;
}

/**
 * A fake Discord REST API and gateway on 127.0.0.1, following the measured recipe in
 * shared/reference/offline-test-harness.md §3: /gateway/bot, HELLO → IDENTIFY → READY +
 * GUILD_CREATE, heartbeat ACKs, op 7 → RESUME → RESUMED, JSON frames (no zlib), multipart
 * messages with payload_json and files[n], threads from messages (160004 when one exists).
 */
export class FakeDiscord {
  readonly rest = new CallLog<DiscordCall>();
  readonly gateway = new CallLog<GatewayFrame>();
  token = 'discord-test-token';
  botId = '1457469483726668048';
  botName = 'Threadline';
  guildId = '1457468924290662599';
  channels = ['1457510428359004343', '1459213904352645277'];
  /** Channels where posting fails with this Discord error code (50013 missing permissions, 50083 archived thread, 10003 unknown channel). */
  readonly refuse = new Map<string, number>();
  /** Threads created so far (message id → thread). */
  readonly threads = new Map<string, any>();
  url = '';
  private server?: Server;
  private wss?: WebSocketServer;
  private sockets = new Set<WebSocket>();
  /** The shard each identified socket runs (from IDENTIFY's `shard: [id, count]`). */
  private readonly shardOf = new Map<WebSocket, { id: number; count: number }>();
  /** Discord's recommended shard count (`/gateway/bot`) and identify concurrency. */
  recommendedShards = 1;
  maxConcurrency = 1;
  /** One IDENTIFY per bucket (shard id % max_concurrency) per this window, as Discord allows (5 s). */
  identifyWindowMs = 5_000;
  /** Every IDENTIFY, in order: which shard, when, and whether Discord took it. */
  readonly identifies: Array<{ shard: number; count: number; at: number; accepted: boolean }> = [];
  /** The most sessions one shard ever had open at once (more than one: two processes answer the same events). */
  maxSessionsPerShard = 0;
  private readonly lastIdentify = new Map<number, number>();
  /**
   * Discord's per-channel limit on creating messages (off unless a test sets it): past `limit` in
   * `windowMs`, HTTP 429 with `retry_after` (seconds, in the body and the Retry-After header).
   * `headers`: answers carry X-RateLimit-* as Discord's do (the client can wait before it is
   * refused); without them it only learns from the 429.
   */
  messageLimit?: { limit: number; windowMs: number; headers: boolean };
  /**
   * Discord's global limit on the bot's requests (off unless a test sets it; Discord's is 50 a
   * second): past `limit` in `windowMs`, any request gets 429 with `global: true` in the body and
   * X-RateLimit-Global / X-RateLimit-Scope: global in the headers, as Discord's rate-limit page shows.
   */
  globalLimit?: { limit: number; windowMs: number };
  /** How many requests the global limit refused. */
  globalRefusals = 0;
  private globalSent: number[] = [];
  /** Requests that arrived inside a window the fake had answered 429 for. */
  readonly penaltyViolations: DiscordCall[] = [];
  private readonly sentAt = new Map<string, number[]>();
  private readonly penaltyUntil = new Map<string, number>();
  /** Sessions by id (READY's session_id), so a RESUME on a new socket goes back to its shard. */
  private readonly sessionShards = new Map<string, { id: number; count: number }>();
  private seq = 0;
  private idCounter = 1_900_000_000_000_000_000n;
  /**
   * A call to hold before Discord answers it (a test kills the process meanwhile): `landed`, it is
   * carried out and only the answer waits; otherwise it is carried out on release only if the
   * client is still connected (a client killed first never had it read). Logged as `<METHOD>.held`.
   */
  hold?: { method: string; route: RegExp; until: Promise<void>; landed?: boolean };
  private readonly heldAnswers = new WeakMap<IncomingMessage, Promise<void>>();
  /**
   * How long an enforced nonce finds the message created with it. Discord says "the past few
   * minutes" and no more: two minutes here, the strict reading (a client must not count on longer).
   */
  nonceWindowMs = 120_000;
  private readonly nonces = new Map<string, { id: string; at: number }>();

  get apiBase(): string {
    return `${this.url}/api`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req)
        .then(async ({ status, body, headers }) => {
          await this.heldAnswers.get(req);
          if (status === 0 || res.destroyed) return void res.destroy(); // the client is gone
          if (status === 204) return res.writeHead(204, headers).end();
          res.writeHead(status, { 'content-type': 'application/json', ...headers });
          res.end(JSON.stringify(body));
        })
        .catch((err) => res.writeHead(500).end(String(err)));
    });
    this.wss = new WebSocketServer({ server: this.server });
    this.wss.on('connection', (ws) => this.onSocket(ws));
    this.url = await listenLocal(this.server);
    return this;
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss?.close();
    await closeServer(this.server);
  }

  nextId(): string {
    return String(++this.idCounter);
  }

  /**
   * Sends a dispatch (op 0) as Discord routes it: a server's events to the session of its shard
   * ((guild_id >> 22) % num_shards), DMs to shard 0 (docs: Sharding).
   */
  dispatch(t: string, d: unknown): void {
    const guild = (d as { guild_id?: unknown } | null)?.guild_id;
    for (const [ws, shard] of this.shardOf) if (this.sockets.has(ws) && shardForGuild(guild, shard.count) === shard.id) this.send(ws, { op: 0, t, s: ++this.seq, d });
  }

  /** Open sessions per shard id, now. */
  sessionsByShard(): Map<number, number> {
    const out = new Map<number, number>();
    for (const [ws, shard] of this.shardOf) if (this.sockets.has(ws)) out.set(shard.id, (out.get(shard.id) ?? 0) + 1);
    return out;
  }

  /** Asks clients to reconnect (op 7); they come back and RESUME. */
  requestReconnect(): void {
    for (const ws of this.sockets) this.send(ws, { op: 7, d: null });
  }

  get connections(): number {
    return this.sockets.size;
  }

  /** Messages the bot posted in a channel (creates, in order). */
  /** People in the fake guild (a member lookup by id answers 200 for them, 10007 Unknown Member otherwise). */
  readonly members = new Set<string>();

  posts(channelId: string): DiscordCall[] {
    // what Discord created: a refused request (429, 400) made no message, and a create its nonce found again made none either
    const seen = new Set<string>();
    return this.rest.filter((c) => c.method === 'POST' && c.route === `/channels/${channelId}/messages` && c.result?.id !== undefined && !seen.has(c.result.id) && !!seen.add(c.result.id));
  }

  /** A message of the bot as it is now: its create, at its last edit (content; files as the last edit that named them left them). */
  current(channelId: string, id: string): any {
    const create = this.posts(channelId).find((c) => c.result.id === id)?.result;
    if (!create) return undefined;
    const edits = this.rest.filter((c) => c.method === 'PATCH' && c.route === `/channels/${channelId}/messages/${id}` && c.result?.id === id);
    const withFiles = edits.filter((c) => Array.isArray(c.body?.attachments) || c.files.length).at(-1);
    return { ...create, content: edits.at(-1)?.body?.content ?? create.content, attachments: withFiles ? withFiles.result.attachments : create.attachments };
  }

  /** The text a person sees in a channel now: each posted message at its last edit. */
  visible(channelId: string): string[] {
    return this.posts(channelId)
      .map((p) => {
        const id = p.result?.id;
        const edits = this.rest.filter((c) => c.method === 'PATCH' && c.route === `/channels/${channelId}/messages/${id}`);
        const deleted = this.rest.calls.some((c) => c.method === 'DELETE' && c.route === `/channels/${channelId}/messages/${id}`);
        return deleted ? '' : (edits.at(-1)?.body.content ?? p.body.content ?? '');
      })
      .filter((t) => t !== '');
  }

  private send(ws: WebSocket, frame: Omit<GatewayFrame, 'at'>): void {
    ws.send(JSON.stringify(frame));
  }

  private onSocket(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => {
      this.sockets.delete(ws);
      this.shardOf.delete(ws);
    });
    this.send(ws, { op: 10, d: { heartbeat_interval: 41_250 } });
    ws.on('message', (data) => {
      const frame = JSON.parse((data as Buffer).toString()) as GatewayFrame; // binaryType nodebuffer: always one Buffer
      this.gateway.record({ ...frame, at: Date.now() });
      if (frame.op === 1) this.send(ws, { op: 11 });
      if (frame.op === 2) {
        if (frame.d?.token !== this.token) return ws.close(4004, 'Authentication failed.');
        const [id, count] = Array.isArray(frame.d?.shard) ? (frame.d.shard as [number, number]) : [0, 1];
        if (!(id >= 0 && id < count)) return ws.close(4010, 'Invalid shard.');
        // past the session start rate of its bucket, Discord invalidates the session (op 9)
        const bucket = id % this.maxConcurrency;
        const last = this.lastIdentify.get(bucket);
        const accepted = last === undefined || Date.now() - last >= this.identifyWindowMs;
        this.identifies.push({ shard: id, count, at: Date.now(), accepted });
        if (!accepted) return this.send(ws, { op: 9, d: false });
        this.lastIdentify.set(bucket, Date.now());
        this.shardOf.set(ws, { id, count });
        this.sessionShards.set(`session-${this.identifies.length}`, { id, count });
        this.maxSessionsPerShard = Math.max(this.maxSessionsPerShard, this.sessionsByShard().get(id) ?? 0);
        this.send(ws, {
          op: 0,
          t: 'READY',
          s: ++this.seq,
          d: readyPayload({ user: this.botUser(), guildId: this.guildId, botId: this.botId, url: this.url, sessionId: `session-${this.identifies.length}` }, id, count),
        });
        if (shardForGuild(this.guildId, count) === id)
          this.send(ws, { op: 0, t: 'GUILD_CREATE', s: ++this.seq, d: guildPayload({ user: this.botUser(), guildId: this.guildId, channels: this.channels }) });
      }
      if (frame.op === 6) {
        const shard = this.sessionShards.get(String(frame.d?.session_id));
        if (!shard) return this.send(ws, { op: 9, d: false }); // an unknown session cannot be resumed
        this.shardOf.set(ws, shard);
        this.send(ws, { op: 0, t: 'RESUMED', s: ++this.seq, d: {} });
      }
    });
  }

  botUser() {
    return { id: this.botId, username: this.botName, discriminator: '0', global_name: null, avatar: null, bot: true, flags: 0 };
  }

  private message(channelId: string, body: any, files: DiscordCall['files'], id = this.nextId()) {
    return messagePayload({ id, channelId, body, files, url: this.url, author: this.botUser(), nextId: () => this.nextId() });
  }

  /** The bot's global limit: undefined to go on, or the 429 to answer (interaction webhooks are not under it). */
  private limitGlobally(): { body: unknown; headers: Record<string, string> } | undefined {
    const g = this.globalLimit;
    if (!g) return undefined;
    const now = Date.now();
    this.globalSent = this.globalSent.filter((t) => t > now - g.windowMs);
    if (this.globalSent.length < g.limit) {
      this.globalSent.push(now);
      return undefined;
    }
    this.globalRefusals++;
    const retryAfter = (this.globalSent[0] + g.windowMs - now) / 1000;
    return {
      body: { message: 'You are being rate limited.', retry_after: Number(retryAfter.toFixed(3)), global: true },
      headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfter))), 'x-ratelimit-global': 'true', 'x-ratelimit-scope': 'global' },
    };
  }

  /** The per-channel message limit: undefined to go on, or the 429 to answer; `headers` for the answer either way. */
  private limitMessages(channel: string, call: DiscordCall): { refuse?: { status: number; body: unknown; headers: Record<string, string> }; headers?: Record<string, string> } {
    const l = this.messageLimit;
    if (!l) return {};
    const now = Date.now();
    if ((this.penaltyUntil.get(channel) ?? 0) > now) this.penaltyViolations.push(call);
    const sent = (this.sentAt.get(channel) ?? []).filter((t) => t > now - l.windowMs);
    this.sentAt.set(channel, sent);
    const resetAfter = sent.length ? (sent[0] + l.windowMs - now) / 1000 : l.windowMs / 1000;
    const info = (remaining: number): Record<string, string> =>
      l.headers ? { 'x-ratelimit-limit': String(l.limit), 'x-ratelimit-remaining': String(remaining), 'x-ratelimit-reset-after': resetAfter.toFixed(3), 'x-ratelimit-bucket': `msg-${channel}` } : {};
    if (sent.length >= l.limit) {
      this.penaltyUntil.set(channel, now + resetAfter * 1000);
      const headers = { ...info(0), 'retry-after': String(Math.ceil(resetAfter)), 'x-ratelimit-scope': 'user' };
      return { refuse: { status: 429, body: { message: 'You are being rate limited.', retry_after: Number(resetAfter.toFixed(3)), global: false }, headers } };
    }
    sent.push(now);
    return { headers: info(l.limit - sent.length) };
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body?: unknown; headers?: Record<string, string> }> {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = decodeURIComponent(url.pathname.replace(/^\/api\/v\d+/, ''));
    const raw = await readBody(req);
    const ct = String(req.headers['content-type'] ?? '');
    let body: any = null;
    const files: DiscordCall['files'] = [];
    if (ct.includes('multipart/form-data')) {
      const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': ct } }).formData();
      const pj = form.get('payload_json');
      body = typeof pj === 'string' ? JSON.parse(pj) : {};
      for (const [k, v] of form) if (k.startsWith('files[') && v instanceof File) files.push({ name: v.name, bytes: Buffer.from(await v.arrayBuffer()), type: v.type });
    } else if (raw.length) {
      body = JSON.parse(raw.toString());
    }
    const call: DiscordCall = { method: req.method ?? 'GET', route, body, files, at: Date.now(), hr: performance.now() };
    const hold = this.hold && this.hold.method === call.method && this.hold.route.test(route) ? this.hold : undefined;
    if (hold) {
      this.rest.record({ ...call, method: `${call.method}.held` });
      if (hold.landed) this.heldAnswers.set(req, hold.until);
      else {
        await hold.until;
        if (req.socket.destroyed) return { status: 0 }; // killed before Discord read it: nothing happened
      }
    }
    const done = (status: number, result?: unknown) => {
      call.result = result;
      this.rest.record(call);
      return { status, body: result };
    };
    const auth = String(req.headers.authorization ?? '');
    const interactionRoute = route.startsWith('/interactions/') || route.startsWith('/webhooks/');
    if (!interactionRoute && auth !== `Bot ${this.token}`) return done(401, { message: '401: Unauthorized', code: 0 });
    const global = interactionRoute ? undefined : this.limitGlobally();
    if (global) return { ...done(429, global.body), headers: global.headers };
    const m = call.method;
    let p: RegExpExecArray | null;
    if (route === '/gateway/bot')
      return done(200, {
        url: this.url.replace('http', 'ws'),
        shards: this.recommendedShards,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: this.maxConcurrency },
      });
    if (route === '/users/@me') return done(200, this.botUser());
    if (route === '/applications/@me') return done(200, { id: this.botId, name: this.botName, bot_public: true, flags: 0 });
    if ((p = /^\/guilds\/(\d+)\/members\/(\d+)$/.exec(route)) && m === 'GET') {
      if (p[1] !== this.guildId || !this.members.has(p[2])) return done(404, { message: 'Unknown Member', code: 10007 });
      return done(200, {
        user: { id: p[2], username: `user${p[2]}`, discriminator: '0', global_name: null, avatar: null },
        roles: [],
        joined_at: new Date().toISOString(),
        deaf: false,
        mute: false,
        flags: 0,
      });
    }
    if ((p = /^\/channels\/(\d+)\/typing$/.exec(route)) && m === 'POST') return done(204);
    if ((p = /^\/channels\/(\d+)\/(messages|typing)/.exec(route)) && this.refuse.has(p[1])) {
      const code = this.refuse.get(p[1])!;
      return done(code === 10003 ? 404 : code === 50013 ? 403 : 400, { message: `refused (${code})`, code });
    }
    // Discord's own limits: 2,000 characters of content and 10 attachments per message (error 50035)
    const invalid = (m === 'POST' || m === 'PATCH') && /\/messages/.test(route) ? invalidMessageBody(body, files) : undefined;
    if (invalid) return done(400, invalid);
    if ((p = /^\/channels\/(\d+)\/messages$/.exec(route)) && m === 'POST') {
      const nonce = body?.nonce === undefined || body?.nonce === null ? undefined : String(body.nonce);
      if (nonce !== undefined && nonce.length > 25)
        return done(400, { code: 50035, errors: { nonce: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 25 or fewer in length.' }] } }, message: 'Invalid Form Body' });
      const limited = this.limitMessages(p[1], call);
      if (limited.refuse) return { ...done(limited.refuse.status, limited.refuse.body), headers: limited.refuse.headers };
      // enforce_nonce: the bot's message created with this nonce lately is returned, and no new one is made
      const seen = nonce !== undefined && body?.enforce_nonce ? this.nonces.get(`${p[1]}:${nonce}`) : undefined;
      if (seen && Date.now() - seen.at < this.nonceWindowMs) return { ...done(200, this.current(p[1], seen.id)), headers: limited.headers };
      const created = this.message(p[1], body, files);
      if (nonce !== undefined) this.nonces.set(`${p[1]}:${nonce}`, { id: created.id, at: Date.now() });
      return { ...done(200, created), headers: limited.headers };
    }
    if ((p = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(route))) {
      if (m === 'PATCH') return done(200, { ...this.message(p[1], body, files, p[2]), edited_timestamp: new Date().toISOString() });
      if (m === 'DELETE') return done(204);
    }
    if ((p = /^\/channels\/(\d+)\/messages\/(\d+)\/threads$/.exec(route)) && m === 'POST') {
      if (this.threads.has(p[2])) return done(400, { message: 'A thread has already been created for this message', code: 160004 });
      const now = new Date().toISOString();
      const thread = {
        id: p[2],
        type: 11,
        guild_id: this.guildId,
        parent_id: p[1],
        owner_id: this.botId,
        name: body?.name,
        last_message_id: null,
        thread_metadata: { archived: false, auto_archive_duration: body?.auto_archive_duration ?? 60, archive_timestamp: now, locked: false, create_timestamp: now },
        member_count: 1,
        message_count: 0,
        rate_limit_per_user: 0,
        flags: 0,
        total_message_sent: 0,
      };
      this.threads.set(p[2], thread);
      this.dispatch('THREAD_CREATE', { ...thread, newly_created: true });
      return done(201, thread);
    }
    if ((p = /^\/channels\/(\d+)$/.exec(route)) && m === 'GET') {
      const thread = [...this.threads.values()].find((t) => t.id === p![1]);
      if (thread) return done(200, thread);
      if (this.channels.includes(p[1])) return done(200, { id: p[1], type: 0, guild_id: this.guildId, name: 'channel', position: 0, permission_overwrites: [] });
      return done(200, { id: p[1], type: 1, recipients: [{ id: '1033044521375764530', username: 'testuser2384', discriminator: '0', global_name: 'Test User', avatar: null }] });
    }
    if ((p = /^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(route)) && m === 'PUT') {
      return done(
        200,
        (body as any[]).map((c) => ({ ...c, id: this.nextId(), application_id: p![1], guild_id: p![2], version: '1', default_member_permissions: null, type: 1 })),
      );
    }
    if ((p = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(route)) && m === 'POST') return done(204);
    if ((p = /^\/webhooks\/(\d+)\/([^/]+)\/messages\/(@original|\d+)$/.exec(route))) {
      if (m === 'PATCH') return done(200, this.message('0', body, files, p[3] === '@original' ? '1' : p[3]));
      if (m === 'DELETE') return done(204);
    }
    if ((p = /^\/webhooks\/(\d+)\/([^/]+)$/.exec(route)) && m === 'POST') return done(200, this.message('0', body, files));
    return done(404, { message: 'Unknown route', code: 0 });
  }
}
