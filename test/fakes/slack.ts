import { createServer, type IncomingMessage, type Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { CallLog, closeServer, listenLocal, readBody } from './call-log.js';

export interface SlackCall {
  method: string;
  args: Record<string, any>;
  /** What a message says: its `markdown_text`, or its `text` (mrkdwn). */
  text?: string;
  token?: string;
  at: number;
  /** What the fake answered. */
  result?: any;
  hr?: number;
}

/**
 * A fake Slack Web API (and Socket Mode endpoint) on 127.0.0.1, answering the way
 * shared/reference/offline-test-harness.md §1–2 measured: form bodies with nested JSON strings,
 * HTTP 200 JSON answers, files.uploadV2's three steps, apps.connections.open + hello.
 */
export class FakeSlack {
  readonly log = new CallLog<SlackCall>();
  readonly uploads = new Map<string, { filename: string; bytes: Buffer; contentType: string }>();
  readonly botToken = 'xoxb-test-token';
  readonly appToken = 'xapp-test-token';
  botUserId = 'U00FAKEBOT01';
  botId = 'B00FAKEBOT01';
  teamId = 'T00FAKE00AA';
  /** When false, chat.startStream answers unknown_method (older workspaces). */
  streaming = true;
  /** When false, agents.sessions.* answer not_authorized (an app not declared an agent). */
  agentSessions = true;
  /** Agent sessions by `channel:thread_ts`: every status set, in order, and the title given at creation. */
  readonly sessions = new Map<string, { statuses: string[]; title?: string }>();
  /**
   * Per-method limits the fake enforces, as Slack does (off unless a test sets them): past the
   * limit in the window, HTTP 429 with `Retry-After` (whole seconds) and `{ok:false, error:"ratelimited"}`.
   */
  limits: Record<string, { limit: number; windowMs: number; perChannel?: boolean }> = {};
  /** Calls that arrived while their method was inside a penalty window the fake had announced. */
  readonly penaltyViolations: SlackCall[] = [];
  private readonly windows = new Map<string, number[]>();
  private readonly penalties = new Map<string, number>();
  /** Channels the bot is not a member of: posting there answers not_in_channel, as Slack does. */
  readonly notMember = new Set<string>();
  /** Where a slash command's response_url points (`${url}/respond/<id>`); what was posted there is logged as method `response_url`. */
  responseUrl(id: string): string {
    return `${this.url}/respond/${id}`;
  }
  /** Streaming messages by ts: `streaming` until chat.stopStream (or the person's Stop). */
  readonly streams = new Map<string, 'streaming' | 'stopped'>();
  /** The thread each stream was started in (benchmarks count finished streams per thread). */
  private readonly streamThreads = new Map<string, string>();

  streamThread(streamTs: string): string | undefined {
    return this.streamThreads.get(streamTs);
  }
  users: Record<string, { name: string; display_name?: string; is_admin?: boolean }> = {};
  /** The app's OAuth credentials (oauth.v2.access checks them as Slack does). */
  readonly clientId = '1111111111.2222222222';
  readonly clientSecret = 'fake-client-secret-3333';
  /** Workspaces that installed the app through OAuth: their bot tokens, each answering for its own team. */
  readonly installs = new Map<string, FakeInstall>();
  /** Tokens Slack revoked (uninstalled): every call with one answers `token_revoked`. */
  readonly revoked = new Set<string>();
  /** One-time codes handed to the redirect, by code: used once, within ten minutes, with the redirect_uri they were issued for. */
  private readonly grants = new Map<string, { install: FakeInstall; redirectUri?: string; until: number }>();
  url = '';
  private server?: Server;
  private wss?: WebSocketServer;
  private sockets = new Set<WebSocket>();
  private tsCounter = 1_800_000_000;
  private fileCounter = 0;
  private envelopeAcks = new Map<string, (payload: unknown) => void>();

  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req)
        .then(({ status, body, headers, raw }) => {
          if (raw) return res.writeHead(status, { 'content-length': raw.length, ...headers }).end(raw);
          res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
          res.end(JSON.stringify(body));
        })
        .catch((err) => {
          res.writeHead(500).end(String(err));
        });
    });
    this.wss = new WebSocketServer({ server: this.server, path: '/link/' });
    this.wss.on('connection', (ws) => {
      this.sockets.add(ws);
      ws.on('close', () => this.sockets.delete(ws));
      ws.on('message', (data) => {
        const msg = JSON.parse((data as Buffer).toString()) as { envelope_id?: string; payload?: unknown };
        if (msg.envelope_id) this.envelopeAcks.get(msg.envelope_id)?.(msg.payload);
      });
      ws.send(JSON.stringify({ type: 'hello', num_connections: 1, debug_info: { host: 'fake' }, connection_info: { app_id: 'A00FAKEAPP01' } }));
    });
    this.url = await listenLocal(this.server);
    return this;
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss?.close();
    await closeServer(this.server);
  }

  /** Sends a Socket Mode envelope to every connected client and resolves with the ack payload. */
  sendEnvelope(type: 'events_api' | 'slash_commands' | 'interactive', payload: unknown, retryAttempt = 0): Promise<unknown> {
    const id = `env-${++this.tsCounter}`;
    const acked = new Promise<unknown>((r) => this.envelopeAcks.set(id, r));
    for (const ws of this.sockets)
      ws.send(JSON.stringify({ envelope_id: id, type, payload, accepts_response_payload: type !== 'events_api', retry_attempt: retryAttempt, retry_reason: retryAttempt ? 'timeout' : '' }));
    return acked;
  }

  /** Asks every client to reconnect, as Slack does when it recycles a connection, then closes it. */
  requestRefresh(): void {
    for (const ws of this.sockets) {
      ws.send(JSON.stringify({ type: 'disconnect', reason: 'refresh_requested', debug_info: { host: 'fake' } }));
      ws.close(1000);
    }
  }

  get socketCount(): number {
    return this.sockets.size;
  }

  /**
   * Each message of a thread as a person sees it: a stream with the appends Slack took, a post at
   * its last accepted edit (trailing blank space is not shown).
   */
  visible(channel: string, threadTs?: string): string[] {
    return this.repliesIn(channel, threadTs).map((c) => {
      const edited = this.log.filter((u) => u.method === 'chat.update' && u.args.ts === c.result?.ts && u.result?.ok).at(-1);
      const text =
        c.method === 'chat.startStream' && !edited
          ? (c.args.markdown_text ?? '') +
            this.log
              .filter((x) => x.method === 'chat.appendStream' && x.args.ts === c.result?.ts && x.result?.ok)
              .map((x) => x.args.markdown_text ?? '')
              .join('')
          : (edited?.text ?? c.text ?? '');
      return text.trimEnd();
    });
  }

  /** The person clicks Stop on an agent session: Slack stops its streams (as the event's streaming_message_ts says). */
  clickStop(streamTs: string[]): void {
    for (const ts of streamTs) this.streams.set(ts, 'stopped');
  }

  /** Calls to one method. */
  calls(method: string): SlackCall[] {
    return this.log.filter((c) => c.method === method);
  }

  /** Messages visible in a thread (posts and streams), in order: a call Slack refused made none. */
  repliesIn(channel: string, threadTs?: string): SlackCall[] {
    return this.log.filter(
      (c) => ['chat.postMessage', 'chat.startStream'].includes(c.method) && c.result?.ok && c.args.channel === channel && (threadTs === undefined ? !c.args.thread_ts : c.args.thread_ts === threadTs),
    );
  }

  private nextTs(): string {
    return `${++this.tsCounter}.000100`;
  }

  /** Slack's tiers: a sliding window per method (per channel for chat.postMessage), and the penalty a 429 announces. */
  private rateLimit(method: string, args: Record<string, any>, call: SlackCall): { status: number; body: unknown; headers: Record<string, string> } | undefined {
    const limit = this.limits[method];
    if (!limit) return undefined;
    const id = limit.perChannel ? `${method}:${args.channel}` : method;
    const now = Date.now();
    if ((this.penalties.get(id) ?? 0) > now) this.penaltyViolations.push(call);
    const sent = (this.windows.get(id) ?? []).filter((t) => t > now - limit.windowMs);
    this.windows.set(id, sent);
    if (sent.length >= limit.limit) {
      const retryAfter = Math.max(1, Math.ceil((sent[sent.length - limit.limit] + limit.windowMs - now) / 1000));
      this.penalties.set(id, now + retryAfter * 1000);
      return { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': String(retryAfter) } };
    }
    sent.push(now);
    return undefined;
  }

  /** Files people shared, served at their url_private_download. */
  readonly sharedFiles = new Map<string, { name: string; bytes: Buffer; contentType: string }>();
  /** While set, users.info answers only once it resolves. */
  holdUsersInfo?: Promise<unknown>;
  /**
   * While set, calls of `method` (matching `when`) are seen (logged as `<method>.held`) and answered
   * only once `until` resolves; with `landed`, each is carried out at once and only its answer waits
   * (the call landed, the caller did not hear back).
   */
  hold?: { method: string; when?: (args: Record<string, any>) => boolean; until: Promise<unknown>; landed?: boolean };
  /** false: the app lacks files:read, and Slack answers every download with its sign-in page. */
  filesRead = true;
  private fileSeq = 0;

  /**
   * A file a person shares, as Slack puts it on the message event (fields as in the recorded
   * aiMentionWithFile: id, name, mimetype, size, mode, file_access, url_private, url_private_download).
   */
  shareFile(name: string, bytes: Buffer, mimetype: string, over: Record<string, unknown> = {}): Record<string, unknown> {
    const id = `F0FAKEFILE${++this.fileSeq}`;
    this.sharedFiles.set(id, { name, bytes, contentType: mimetype });
    const base = `${this.url}/files-pri/T00FAKE00AA-${id}`;
    return {
      id,
      name,
      title: name,
      mimetype,
      filetype: name.split('.').pop(),
      size: bytes.length,
      mode: 'hosted',
      file_access: 'visible',
      url_private: `${base}/${name}`,
      url_private_download: `${base}/download/${name}`,
      ...over,
    };
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body?: unknown; headers?: Record<string, string>; raw?: Buffer }> {
    const url = new URL(req.url ?? '/', 'http://x');
    const raw = await readBody(req);
    if (url.pathname.startsWith('/files-pri/')) {
      // Slack's rule: the bot token in Authorization, or a 200 with its HTML sign-in page (docs/slack.md §3)
      const id = url.pathname.split('/')[2].split('-').pop()!;
      const file = this.sharedFiles.get(id);
      const bearer = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
      const authorized = (bearer === this.botToken || (this.installs.has(bearer) && !this.revoked.has(bearer))) && this.filesRead;
      this.log.record({ method: 'file_download', args: { id, authorized }, at: Date.now() });
      if (!authorized)
        return {
          status: 200,
          raw: Buffer.from('<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to your workspace</body></html>'),
          headers: { 'content-type': 'text/html; charset=utf-8' },
        };
      if (!file) return { status: 404, raw: Buffer.from('not found'), headers: { 'content-type': 'text/plain' } };
      return { status: 200, raw: file.bytes, headers: { 'content-type': file.contentType } };
    }
    if (url.pathname.startsWith('/respond/')) {
      // a slash command's response_url: JSON in, "ok" out (up to 5 uses within 30 minutes at Slack)
      const id = url.pathname.split('/')[2];
      const used = this.log.filter((c) => c.method === 'response_url' && c.args.id === id).length;
      const answer = JSON.parse(raw.toString() || '{}') as Record<string, unknown>;
      this.log.record({ method: 'response_url', args: { id, ...answer }, text: typeof answer.text === 'string' ? answer.text : undefined, at: Date.now() });
      return used >= 5 ? { status: 404, body: { ok: false, error: 'used_up' } } : { status: 200, body: { ok: true } };
    }
    if (url.pathname.startsWith('/upload/')) {
      const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': String(req.headers['content-type']) } }).formData();
      const file = form.get('body') ?? form.get('file');
      if (!(file instanceof File)) return { status: 400, body: { ok: false } };
      const id = url.pathname.split('/')[2];
      this.uploads.set(id, { ...(this.uploads.get(id) ?? { filename: '' }), bytes: Buffer.from(await file.arrayBuffer()), contentType: file.type });
      this.log.record({ method: 'upload', args: { file_id: id, size: file.size }, at: Date.now() });
      return { status: 200, body: { ok: true } };
    }
    const method = url.pathname.replace(/^\/api\//, '');
    const ct = String(req.headers['content-type'] ?? '');
    let args: Record<string, any> = {};
    if (ct.includes('json')) args = raw.length ? JSON.parse(raw.toString()) : {};
    else for (const [k, v] of new URLSearchParams(raw.toString())) args[k] = v;
    for (const k of ['files', 'blocks', 'prompts', 'attachments', 'chunks']) if (typeof args[k] === 'string') args[k] = JSON.parse(args[k]);
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '') || args.token;
    const call: SlackCall = { method, args, text: args.markdown_text ?? args.text, token, at: Date.now(), hr: performance.now() };
    if (method === 'users.info' && this.holdUsersInfo) {
      // a slow Slack: the call is seen, its answer waits (a process can be killed in between)
      this.log.record({ method: 'users.info.held', args, at: Date.now() });
      await this.holdUsersInfo;
    }
    const hold = this.hold;
    const held = !!hold && hold.method === method && (!hold.when || hold.when(args));
    const wait = async () => {
      this.log.record({ method: `${method}.held`, args, at: Date.now() });
      await hold!.until;
    };
    if (held && !hold.landed) await wait();
    const basic = /^Basic /.test(String(req.headers.authorization ?? '')) ? String(req.headers.authorization).slice(6) : undefined;
    const answer = this.rateLimit(method, args, call) ?? this.answer(method, args, basic ? undefined : token, basic);
    call.result = answer.body;
    this.log.record(call);
    if (held && hold.landed) await wait();
    return answer;
  }

  /**
   * A person approved the install of `install` on Slack's consent page: the code Slack puts on the
   * redirect (with the state it was given). Its token answers calls from then on.
   */
  grant(install: FakeInstall, redirectUri?: string): string {
    const code = `code-${++this.fileCounter}-${install.team.id}`;
    this.grants.set(code, { install, redirectUri, until: Date.now() + 10 * 60_000 });
    return code;
  }

  /** oauth.v2.access (docs.slack.dev/reference/methods/oauth.v2.access): client credentials, a one-time code, the same redirect_uri. */
  private exchange(args: Record<string, any>, basic?: string): { status: number; body: any } {
    const [id, secret] = basic ? Buffer.from(basic, 'base64').toString().split(':') : [args.client_id, args.client_secret];
    if (id !== this.clientId) return { status: 200, body: { ok: false, error: 'invalid_client_id' } };
    if (secret !== this.clientSecret) return { status: 200, body: { ok: false, error: 'bad_client_secret' } };
    const grant = this.grants.get(String(args.code ?? ''));
    if (!grant || grant.until < Date.now()) return { status: 200, body: { ok: false, error: 'invalid_code' } };
    this.grants.delete(String(args.code));
    if ((grant.redirectUri ?? undefined) !== (args.redirect_uri || undefined)) return { status: 200, body: { ok: false, error: 'bad_redirect_uri' } };
    const i = grant.install;
    this.installs.set(i.token, i);
    this.revoked.delete(i.token);
    return {
      status: 200,
      body: {
        ok: true,
        app_id: 'A0FAKEAPP01',
        authed_user: { id: i.installer ?? 'U0INSTALLER' },
        scope: 'app_mentions:read,chat:write,commands',
        token_type: 'bot',
        access_token: i.token,
        bot_user_id: i.botUserId,
        team: i.isEnterpriseInstall ? null : i.team,
        enterprise: i.enterprise ?? null,
        is_enterprise_install: !!i.isEnterpriseInstall,
      },
    };
  }

  private answer(method: string, args: Record<string, any>, token: string | undefined, basic?: string): { status: number; body: any } {
    if (method === 'oauth.v2.access') return this.exchange(args, basic);
    if (token && this.revoked.has(token)) return { status: 200, body: { ok: false, error: 'token_revoked' } };
    const install = token ? this.installs.get(token) : undefined;
    const expected = method === 'apps.connections.open' ? this.appToken : this.botToken;
    if (token !== expected && !(install && method !== 'apps.connections.open')) return { status: 200, body: { ok: false, error: 'invalid_auth' } };
    const ok = (extra: Record<string, unknown> = {}) => ({ status: 200, body: { ok: true, ...extra } });
    switch (method) {
      case 'auth.test':
        if (install)
          return ok({
            url: `https://${install.team.name}.slack.com/`,
            team: install.team.name,
            user: 'threadline',
            team_id: install.team.id,
            user_id: install.botUserId,
            bot_id: install.botId,
            ...(install.enterprise ? { enterprise_id: install.enterprise.id, is_enterprise_install: !!install.isEnterpriseInstall } : {}),
          });
        return ok({ url: 'https://fake.slack.com/', team: 'Fake Team', user: 'threadline', team_id: this.teamId, user_id: this.botUserId, bot_id: this.botId });
      case 'apps.connections.open':
        return ok({ url: `${this.url.replace('http', 'ws')}/link/?ticket=t` });
      case 'users.info': {
        const u = this.users[args.user] ?? { name: `user-${args.user}` };
        return ok({ user: { id: args.user, name: u.name, real_name: u.name, is_admin: !!u.is_admin, profile: { display_name: u.display_name ?? u.name, real_name: u.name } } });
      }
      case 'chat.postMessage': {
        if (!args.channel) return ok({ ok: false, error: 'channel_not_found' });
        if (this.notMember.has(args.channel)) return ok({ ok: false, error: 'not_in_channel' });
        const ts = this.nextTs();
        return ok({ channel: args.channel, ts, message: { text: args.text, ts, thread_ts: args.thread_ts } });
      }
      case 'chat.startStream': {
        if (!this.streaming) return { status: 200, body: { ok: false, error: 'unknown_method' } };
        if (!validStreamContent(args)) return { status: 200, body: { ok: false, error: 'invalid_arguments' } };
        if (this.notMember.has(args.channel)) return ok({ ok: false, error: 'not_in_channel' });
        if (!args.thread_ts) return { status: 200, body: { ok: false, error: 'invalid_arguments' } };
        const ts = this.nextTs();
        this.streams.set(ts, 'streaming');
        this.streamThreads.set(ts, args.thread_ts);
        return ok({ channel: args.channel, ts });
      }
      case 'chat.appendStream':
      case 'chat.stopStream': {
        // a stream that was stopped (by chat.stopStream or the person's Stop) takes nothing more
        // (the real error code is not documented; this one is Slack's name for the state)
        if (this.streams.get(args.ts) !== 'streaming') return { status: 200, body: { ok: false, error: 'message_not_in_streaming_state' } };
        if (method === 'chat.appendStream' && !validStreamContent(args)) return { status: 200, body: { ok: false, error: 'invalid_arguments' } };
        if (method === 'chat.stopStream') {
          this.streams.set(args.ts, 'stopped');
          // "transition the session away from processing using either agents.sessions.setStatus or
          // chat.stopStream" (agent_session_stopped's reference): which status it lands in is not
          // documented; this fake says `active`
          const session = this.sessions.get(`${args.channel}:${this.streamThreads.get(args.ts)}`);
          if (session?.statuses.at(-1) === 'processing') session.statuses.push('active');
        }
        return ok({ channel: args.channel, ts: args.ts });
      }
      case 'agents.sessions.setStatus':
      case 'agents.sessions.rename': {
        if (!this.agentSessions) return { status: 200, body: { ok: false, error: 'not_authorized' } };
        if (!args.channel_id || !args.thread_ts) return { status: 200, body: { ok: false, error: 'invalid_arguments' } };
        const id = `${args.channel_id}:${args.thread_ts}`;
        const session: { statuses: string[]; title?: string } = this.sessions.get(id) ?? { statuses: [], title: args.title };
        this.sessions.set(id, session);
        if (method === 'agents.sessions.setStatus') {
          if (!['active', 'processing', 'suspended', 'closed'].includes(args.status)) return { status: 200, body: { ok: false, error: 'invalid_status' } };
          session.statuses.push(args.status);
        } else session.title = args.title;
        return ok();
      }
      case 'chat.postEphemeral':
        // channel and user are required (docs.slack.dev chat.postEphemeral); the bot must be in the channel
        if (!args.channel || !args.user || !(args.text || args.blocks)) return ok({ ok: false, error: 'invalid_arguments' });
        if (this.notMember.has(args.channel)) return ok({ ok: false, error: 'not_in_channel' });
        return ok({ message_ts: this.nextTs() });
      case 'chat.update':
        // a message still streaming is not edited (Slack's reference does not say what it answers;
        // this fake refuses, with chat.update's error for a message that cannot be edited)
        if (this.streams.get(args.ts) === 'streaming') return ok({ ok: false, error: 'cant_update_message' });
        return ok({ channel: args.channel, ts: args.ts });
      case 'chat.delete':
      case 'reactions.add':
      case 'reactions.remove':
      case 'assistant.threads.setStatus':
      case 'assistant.threads.setSuggestedPrompts':
      case 'assistant.threads.setTitle':
        return ok({ channel: args.channel, ts: args.ts });
      case 'files.getUploadURLExternal': {
        const id = `F${++this.fileCounter}`;
        this.uploads.set(id, { filename: args.filename, bytes: Buffer.alloc(0), contentType: '' });
        return ok({ upload_url: `${this.url}/upload/${id}`, file_id: id });
      }
      case 'files.completeUploadExternal':
        return ok({ files: (args.files ?? []).map((f: { id: string; title?: string }) => ({ id: f.id, title: f.title })) });
      default:
        return { status: 200, body: { ok: false, error: 'unknown_method' } };
    }
  }
}

/** A workspace (or an Enterprise Grid org, org-wide) that installs the app through OAuth. */
export interface FakeInstall {
  token: string;
  team: { id: string; name: string };
  enterprise?: { id: string; name: string };
  isEnterpriseInstall?: boolean;
  botUserId: string;
  botId: string;
  installer?: string;
}

/** chat.startStream / appendStream need `markdown_text` (12,000 characters at most) or `chunks` of a known type (the Web API reference). */
function validStreamContent(args: Record<string, any>): boolean {
  const text = typeof args.markdown_text === 'string' && args.markdown_text.length > 0;
  if (text && args.markdown_text.length > 12_000) return false;
  const chunks = Array.isArray(args.chunks) ? args.chunks : undefined;
  if (!text && !chunks?.length) return false;
  for (const c of chunks ?? []) {
    if (c?.type === 'markdown_text' && typeof c.text === 'string') continue;
    if (c?.type === 'plan_update' && typeof c.title === 'string') continue;
    if (c?.type === 'task_update' && typeof c.id === 'string' && typeof c.title === 'string' && ['pending', 'in_progress', 'complete', 'error'].includes(c.status)) continue;
    if (c?.type === 'blocks' && Array.isArray(c.blocks)) continue;
    return false;
  }
  return true;
}
