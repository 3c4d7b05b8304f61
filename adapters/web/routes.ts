import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { parseCommand } from '../../src/engine/commands.js';
import type { EnginePort } from '../../src/engine/port.js';
import type { Inbound, SharedFileRef } from '../../src/engine/types.js';
import type { Logger } from '../../src/log.js';
import type { Asset } from './assets.js';
import { authorized, playgroundGuard, signIn } from './guard.js';
import { safeEqual } from '../../src/safe-equal.js';
import type { WebHub } from './hub.js';
import { webKeys } from './key.js';
import { CSP, LOGIN_CSS, chatPage, loginPage } from './page.js';
import { WebSink } from './sink.js';

export const BASE = '/playground';
const ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Addressing the assistant during a meeting: `@assistant what did we decide?` (otherwise a line of the notes). */
const ADDRESSED = /^\s*@(assistant|threadline)\b[\s,:]*/i;
const MAX_TEXT = 40_000;
const MAX_FILES = 10;

export interface WebRoutesDeps {
  engine: EnginePort;
  hub: WebHub;
  log: Logger;
  assets: Record<string, Asset>;
  token?: string;
  assistant: string;
  /** FILE_MAX_BYTES: one upload's cap (the request may carry MAX_FILES of them). */
  maxFileBytes: number;
  accepting(): boolean;
  keepAliveMs?: number;
}

/**
 * The playground's HTTP side: the page at / and /playground, its assets, the sign-in form, a
 * server-sent event stream per conversation, and POST messages (multipart, with files).
 */
export function webRoutes(d: WebRoutesDeps): { app: Hono; close(): void } {
  const app = new Hono();
  // open event streams end when Threadline stops (the server waits for open connections)
  const streams = new Set<() => void>();
  let closed = false;
  const page = (c: Context) => {
    c.header('content-security-policy', CSP);
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
    return c.html(chatPage({ base: BASE, assistant: d.assistant }));
  };
  app.get(`${BASE}/assets/login.css`, (c) => c.body(LOGIN_CSS, 200, { 'content-type': 'text/css; charset=utf-8' }));
  // the guard covers the playground's own paths only: other platforms' routes (Slack's events) never meet it
  const guard = playgroundGuard({ token: d.token, loginPath: `${BASE}/login`, open: [`${BASE}/login`, `${BASE}/assets/login.css`] });
  for (const path of ['/', BASE, `${BASE}/*`]) app.use(path, ...guard);
  app.get('/', page);
  app.get(BASE, page);
  app.get(`${BASE}/`, page);
  app.get(`${BASE}/login`, (c) => {
    const token = c.req.query('token');
    // a link with the token signs the browser in and drops the token from the address bar
    if (d.token && token !== undefined) {
      if (!safeEqual(token, d.token)) return c.html(loginPage({ base: BASE, error: 'That token is not the right one.' }), 401);
      signIn(c, d.token);
      return c.redirect(BASE);
    }
    if (!d.token || authorized(c, d.token)) return c.redirect(BASE);
    c.header('content-security-policy', CSP);
    return c.html(loginPage({ base: BASE }));
  });
  app.post(`${BASE}/login`, bodyLimit({ maxSize: 4096 }), async (c) => {
    if (!d.token) return c.redirect(BASE);
    const form = await c.req.parseBody();
    if (typeof form.token !== 'string' || !safeEqual(form.token, d.token)) {
      d.log.info({ platform: 'web' }, 'playground: a sign-in with a wrong token');
      return c.html(loginPage({ base: BASE, error: 'That token is not the right one.' }), 401);
    }
    signIn(c, d.token);
    return c.redirect(BASE, 303);
  });
  app.get(`${BASE}/assets/:name`, (c) => {
    const a = d.assets[c.req.param('name')];
    return a ? c.body(a.body, 200, { 'content-type': a.contentType, 'cache-control': 'no-cache' }) : c.json({ error: 'not found' }, 404);
  });

  app.get(`${BASE}/api/events`, (c) => {
    const key = keyOf(c.req.query('room'), c.req.query('conversation'));
    if (!key) return c.json({ error: 'room and conversation must be ids (letters, digits, - and _)' }, 400);
    // stopping: a 503 ends the page's EventSource for good (a stream that just ended would be reopened at once)
    if (closed) return c.json({ error: 'Threadline is stopping' }, 503);
    return streamSSE(c, async (stream) => {
      const queue: string[] = [];
      let wake: (() => void) | undefined;
      // the transcript first, then live events; a reconnecting page drops those it has (by uid)
      const unsubscribe = d.hub.subscribe(key, (e) => {
        queue.push(JSON.stringify(e));
        wake?.();
      });
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      const end = () => wake?.();
      streams.add(end);
      try {
        while (!stream.aborted && !closed) {
          while (queue.length) {
            await stream.writeSSE({ data: queue.shift()! });
          }
          // a comment now and then keeps proxies from closing an idle stream
          const timer = setTimeout(() => wake?.(), d.keepAliveMs ?? 15_000);
          await new Promise<void>((r) => (wake = r));
          clearTimeout(timer);
          wake = undefined;
          if (!queue.length && !stream.aborted && !closed) await stream.write(': keep-alive\n\n');
        }
      } finally {
        streams.delete(end);
        unsubscribe();
      }
    });
  });

  app.post(
    `${BASE}/api/messages`,
    bodyLimit({ maxSize: d.maxFileBytes * MAX_FILES + 256 * 1024, onError: (c) => c.json({ error: 'Too much at once: each file may be up to the FILE_MAX_BYTES limit.' }, 413) }),
    async (c) => {
      const form = await c.req.parseBody({ all: true });
      const one = (name: string) => (typeof form[name] === 'string' ? form[name] : undefined);
      const key = keyOf(one('room'), one('conversation'));
      const user = one('user');
      const name = one('name')?.trim().slice(0, 80) || 'Guest';
      const text = one('text') ?? '';
      if (!key || !user || !ID.test(user)) return c.json({ error: 'room, conversation and user must be ids (letters, digits, - and _)' }, 400);
      if (text.length > MAX_TEXT) return c.json({ error: `A message may be up to ${MAX_TEXT.toLocaleString('en-US')} characters.` }, 413);
      const uploads = ([] as unknown[]).concat(form.files ?? []).filter((f): f is File => f instanceof File);
      if (uploads.length > MAX_FILES) return c.json({ error: `Up to ${MAX_FILES} files per message.` }, 413);
      if (!text.trim() && !uploads.length) return c.json({ error: 'Write something or attach a file.' }, 400);
      if (!d.accepting()) return c.json({ error: 'Threadline is starting or stopping; send it again in a moment.' }, 503, { 'retry-after': '5' });
      const clientId = one('id');
      const eventId = `web:${clientId && ID.test(clientId) ? clientId : crypto.randomUUID()}`;
      const files: SharedFileRef[] = [];
      for (const f of uploads) {
        const bytes = new Uint8Array(await f.arrayBuffer());
        files.push({ name: f.name.slice(0, 200) || 'file', contentType: f.type, size: bytes.byteLength, url: `upload:${await d.hub.putUpload(bytes, f.type, f.name)}` });
      }
      // during a meeting a line is a note unless it is a command or addressed to the assistant
      const addressed = ADDRESSED.test(text);
      const said = text.replace(ADDRESSED, '');
      const kind = !addressed && !parseCommand(said) && (await d.engine.wantsAmbient(key)) ? 'ambient' : 'mention';
      d.hub.publish(key, { type: 'message', id: eventId, author: { id: user, name }, text, files: files.map((f) => f.name), at: Date.now(), ...(kind === 'ambient' ? { notes: true } : {}) });
      const { room, conversation } = webKeys.decode(key);
      const inbound: Inbound = {
        key,
        target: { platform: 'web', room, conversation, reply: eventId },
        author: { id: user, name, mayConfigure: true },
        text: said,
        kind,
        eventId,
        group: true,
        channelKey: key,
        at: Date.now(),
        metadata: { web_room: room, web_conversation: conversation, web_user: user },
        files,
        sink: new WebSink(d.hub, key, eventId, fileUrl),
      };
      // receive resolves once the message is a command answered or a turn queued in the store
      await d.engine.receive(inbound);
      return c.json({ ok: true, id: eventId }, 202);
    },
  );

  app.get(`${BASE}/api/conversation`, async (c) => {
    const key = keyOf(c.req.query('room'), c.req.query('conversation'));
    if (!key) return c.json({ error: 'room and conversation must be ids (letters, digits, - and _)' }, 400);
    return c.json({ meeting: await d.engine.wantsAmbient(key) });
  });

  app.get(`${BASE}/api/files/:id`, async (c) => {
    const f = await d.hub.file(c.req.param('id'));
    if (!f) return c.json({ error: 'That file is no longer here (the playground keeps recent ones only).' }, 404);
    const image = /^image\/(png|jpeg|gif|webp)$/.test(f.contentType);
    return c.body(Buffer.from(f.bytes), 200, {
      'content-type': image ? f.contentType : 'application/octet-stream',
      'content-disposition': `${image ? 'inline' : 'attachment'}; filename="${f.name.replace(/[^\w.-]/g, '_')}"`,
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'",
    });
  });
  return {
    app,
    close: () => {
      closed = true;
      for (const end of streams) end();
    },
  };
}

export function fileUrl(id: string): string {
  return `${BASE}/api/files/${id}`;
}

function keyOf(room: string | undefined, conversation: string | undefined): string | undefined {
  if (!room || !conversation || !ID.test(room) || !ID.test(conversation)) return undefined;
  return webKeys.encode({ room, conversation });
}
