import type { App, Receiver, ReceiverEvent } from '@slack/bolt';
import type { HttpBindings } from '@hono/node-server';
import type { IncomingMessage } from 'node:http';
import { Hono } from 'hono';
import type { Logger } from '../../src/log.js';
import { PendingWork } from '../../src/pending-work.js';
import { verifySlackSignature } from './verify.js';
import { handleAcknowledgedEvent, type EventIntake, type Screen } from './event-handler.js';

const MAX_BODY = 1024 * 1024;
const TOO_LARGE = new Uint8Array(0);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The request body as bytes, or TOO_LARGE once it passes `max` (the rest is not buffered). */
const TOO_SLOW = new Uint8Array(0);

function readIncoming(incoming: IncomingMessage, max: number, deadlineMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // one deadline for the whole body: a client sending a byte now and then never trips an idle timeout
    const timer = setTimeout(() => {
      incoming.removeAllListeners('data');
      resolve(TOO_SLOW);
    }, deadlineMs);
    incoming.once('close', () => clearTimeout(timer));
    incoming.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        incoming.removeAllListeners('data');
        incoming.resume();
        return resolve(TOO_LARGE);
      }
      chunks.push(chunk);
    });
    incoming.once('end', () => {
      clearTimeout(timer);
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    });
    incoming.once('error', reject);
  });
}

export interface HonoReceiverOptions {
  signingSecret: string;
  log: Logger;
  /** How long to wait for Bolt's ack before answering 200 anyway (Slack gives 3 s, then retries: docs/slack.md §1). */
  ackTimeoutMs?: number;
  /** Called for every accepted event (metrics). */
  onEvent?: (body: Record<string, unknown>) => void;
  /** False while shutting down: events get a 503 so Slack retries them elsewhere. */
  accepting?: () => boolean;
  /**
   * Looks at an Events API callback before Bolt does: `drop` acks it and stops (a duplicate,
   * chatter the bot has no business with); `pass` hands it to Bolt, with `context` added to
   * Bolt's context (e.g. the route already computed, or that the event id was claimed).
   */
  screen?: Screen;
  /** Records an event in the store before it is acknowledged, and lets it go once handled (docs/slack.md §1: an acknowledged event is never sent again). */
  intake?: EventIntake;
  /** Bodies being read before their signature is checked, at most (default 64); beyond it, 503. */
  maxUnverifiedReads?: number;
  /** The whole body must arrive within this (default 10 s); else 408. */
  bodyDeadlineMs?: number;
}

/**
 * A Bolt Receiver that owns no server: `routes` is a Hono app with POST /slack/events, mounted
 * on Threadline's own server. It verifies the signature on the raw body, answers url_verification
 * and ssl_check itself, accepts JSON and form bodies, and acks first and works after.
 * Bad requests get a 4xx and never reach Bolt: 401 bad or stale signature, 413 over 1 MiB,
 * 400 malformed.
 */
export class HonoReceiver implements Receiver {
  readonly routes = new Hono();
  private app?: App;
  private readonly work = new PendingWork();
  /** Bodies being read now, before their signature could be checked. */
  private reading = 0;

  /** How many bodies are being read before their signature could be checked (tests, metrics). */
  get unverifiedReads(): number {
    return this.reading;
  }

  constructor(private readonly opts: HonoReceiverOptions) {
    this.routes.post('/slack/events', async (c) => {
      if (this.opts.accepting && !this.opts.accepting()) return c.json({ error: 'shutting down' }, 503);
      const declared = Number(c.req.header('content-length'));
      if (Number.isFinite(declared) && declared > MAX_BODY) return c.json({ error: 'body too large' }, 413);
      // Refused before a byte of the body is read: no signature headers, or a stale timestamp.
      const early = verifySlackSignature(this.opts.signingSecret, { timestamp: c.req.header('x-slack-request-timestamp'), signature: c.req.header('x-slack-signature') }, '');
      if (!early.ok && early.reason !== 'mismatch') {
        this.opts.log.warn({ reason: early.reason }, 'slack request refused before its body: missing or stale signature headers');
        return c.json({ error: 'invalid signature' }, 401);
      }
      // Reading bodies from unauthenticated clients is capped: slow clients cannot pile up.
      if (this.reading >= (this.opts.maxUnverifiedReads ?? 64)) return c.json({ error: 'busy' }, 503, { 'retry-after': '1' });
      let raw: string;
      this.reading++;
      try {
        // On Node, read the socket directly: turning it into a web stream first costs more than the rest of the ack.
        const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
        const buf = incoming ? await readIncoming(incoming, MAX_BODY, this.opts.bodyDeadlineMs ?? 10_000) : new Uint8Array(await c.req.arrayBuffer());
        if (buf === TOO_SLOW) return c.json({ error: 'request body too slow' }, 408, { connection: 'close' });
        if (buf === TOO_LARGE || buf.byteLength > MAX_BODY) return c.json({ error: 'body too large' }, 413);
        raw = utf8.decode(buf);
      } catch {
        return c.json({ error: 'malformed body' }, 400); // the client's fault: a 4xx is the whole answer
      } finally {
        this.reading--;
      }
      const verdict = verifySlackSignature(this.opts.signingSecret, { timestamp: c.req.header('x-slack-request-timestamp'), signature: c.req.header('x-slack-signature') }, raw);
      if (!verdict.ok) {
        this.opts.log.warn({ reason: verdict.reason }, 'slack request refused: bad signature');
        return c.json({ error: 'invalid signature' }, 401);
      }
      const body = parseBody(raw, c.req.header('content-type') ?? '');
      if (!body) return c.json({ error: 'malformed body' }, 400);
      if (body.ssl_check === '1' || body.ssl_check === 1) return c.body(null, 200);
      if (body.type === 'url_verification') {
        return typeof body.challenge === 'string' ? c.json({ challenge: body.challenge }) : c.json({ error: 'malformed body' }, 400);
      }
      if (!this.app) return c.json({ error: 'not ready' }, 503);
      this.opts.onEvent?.(body);
      if (body.type === 'event_callback') return await this.acceptEvent(body, c.req.header('x-slack-retry-num'), c.req.header('x-slack-retry-reason'));
      return this.dispatch(body, c.req.header('x-slack-retry-num'), c.req.header('x-slack-retry-reason'));
    });
  }

  init(app: App): void {
    this.app = app;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    await this.idle();
  }

  /** Resolves when every event handed to Bolt so far has been processed. */
  idle(): Promise<void> {
    return this.work.idle();
  }

  /**
   * Events API callbacks need nothing but a 200: once the event is recorded in the store (intake),
   * it goes out; the screen and Bolt run after it. Slack never sends an acknowledged event again,
   * so one the store could not record gets a 503 instead, and Slack retries it.
   */
  private async acceptEvent(body: Record<string, unknown>, retryNum?: string, retryReason?: string): Promise<Response> {
    let entry: string | undefined;
    if (this.opts.intake) {
      try {
        entry = await this.opts.intake.record(typeof body.event_id === 'string' ? body.event_id : '', body);
      } catch (err) {
        this.opts.log.warn({ err }, 'could not record a Slack event before acknowledging it; Slack will retry');
        return new Response(JSON.stringify({ error: 'store unavailable' }), { status: 503, headers: { 'content-type': 'application/json', 'retry-after': '1' } });
      }
    }
    void this.work.track(this.handleEvent(body, { retryNum, retryReason, entry }));
    return new Response(null, { status: 200 });
  }

  /** An event recorded at intake by a process that died: handled as if it had just arrived (the engine's marks keep it to once). */
  replay(body: Record<string, unknown>, entry: string): Promise<void> {
    return this.work.track(this.handleEvent(body, { entry, replay: true }));
  }

  private handleEvent(body: Record<string, unknown>, o: { retryNum?: string; retryReason?: string; entry?: string; replay?: boolean }): Promise<void> {
    const retryNum = o.retryNum !== undefined && /^\d+$/.test(o.retryNum) ? Number(o.retryNum) : undefined;
    return handleAcknowledgedEvent({ app: this.app!, screen: this.opts.screen, intake: this.opts.intake, log: this.opts.log }, body, { ...o, retryNum });
  }

  private async dispatch(body: Record<string, unknown>, retryNum?: string, retryReason?: string): Promise<Response> {
    let ackBody: unknown;
    let acked!: () => void;
    const ackPromise = new Promise<void>((r) => (acked = r));
    let done = false;
    const event: ReceiverEvent = {
      body,
      retryNum: retryNum !== undefined && /^\d+$/.test(retryNum) ? Number(retryNum) : undefined,
      retryReason,
      ack: async (response?: unknown) => {
        if (done) return;
        done = true;
        ackBody = response;
        acked();
      },
    };
    const work = this.work.track(
      this.app!.processEvent(event).catch((err: unknown) => {
        this.opts.log.error({ err }, 'slack event handler failed');
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ackPromise, work, new Promise<void>((r) => (timer = setTimeout(r, this.opts.ackTimeoutMs ?? 2_500)))]);
    clearTimeout(timer);
    done = true;
    if (ackBody === undefined || ackBody === '') return new Response(null, { status: 200 });
    if (typeof ackBody === 'string') return new Response(ackBody, { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' } });
    return new Response(JSON.stringify(ackBody), { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' } });
  }
}

/** JSON bodies (events), or form bodies: `payload=<json>` (interactivity) or fields (slash commands). */
export function parseBody(raw: string, contentType: string): Record<string, unknown> | undefined {
  try {
    if (contentType.includes('application/x-www-form-urlencoded')) {
      const form = new URLSearchParams(raw);
      const payload = form.get('payload');
      if (payload !== null) {
        const parsed = JSON.parse(payload) as unknown;
        return isObject(parsed) ? parsed : undefined;
      }
      const fields = Object.fromEntries(form);
      return Object.keys(fields).length ? fields : undefined;
    }
    const parsed = JSON.parse(raw) as unknown;
    return isObject(parsed) ? parsed : undefined;
  } catch {
    return undefined; // not JSON: the caller answers 400
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
