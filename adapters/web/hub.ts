import { randomUUID } from 'node:crypto';
import type { Logger } from '../../src/log.js';
import type { Store } from '../../src/store/index.js';

/** One thing a playground tab shows: a person's message, or a piece of a reply. */
export type WebEvent =
  | { type: 'message'; id: string; author: { id: string; name: string }; text: string; files: string[]; at: number; notes?: boolean }
  | { type: 'status'; reply: string; status: string }
  | { type: 'text'; reply: string; text: string }
  | { type: 'code'; reply: string; input: string; output: string }
  | { type: 'finish'; reply: string; text: string; images: Array<{ url: string; alt: string; name: string; contentType: string }> }
  | { type: 'notice'; reply: string; text: string }
  | { type: 'fail'; reply: string; text: string }
  | { type: 'minutes'; reply: string; title: string; text: string; file: { url: string; name: string } };

type Stamped = WebEvent & { uid: string };
type Listener = (event: Stamped) => void;

/** A file the page can fetch: an image of a reply, the minutes, code output. */
interface HeldFile {
  bytes: Uint8Array;
  contentType: string;
  name: string;
}

/** Files kept in a shared store: a day for what replies show, ten minutes for an upload waiting for its turn. */
const FILE_TTL_MS = 24 * 3_600_000;
const UPLOAD_TTL_MS = 10 * 60_000;
const CHANNEL = 'web-events';

/**
 * The playground's live side: what every open tab of a conversation sees, as it happens. Each
 * conversation keeps its last `transcript` events so a tab that opens it (or reconnects) catches
 * up; the page drops events it has seen (each has a `uid`).
 *
 * On Redis every instance hears every event (the store's pub/sub) and keeps the transcript, and
 * files live in the store, so a tab may be connected to one instance while its turn runs on
 * another. On the embedded store there is one instance and everything stays in memory (files up
 * to `fileBytes` in all, oldest first out). The conversation itself (what the model knows) lives
 * in the store like Slack's and Discord's; a restart empties only the page's transcript.
 */
export class WebHub {
  private readonly transcripts = new Map<string, Stamped[]>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly files = new Map<string, HeldFile>();
  private readonly uploads = new Map<string, { file: HeldFile; at: number }>();
  private fileBytes = 0;
  private readonly shared?: Store;

  constructor(private readonly deps: { store?: Store; log?: Logger; limits?: { transcript?: number; conversations?: number; fileBytes?: number } } = {}) {
    if (deps.store?.kind === 'redis') this.shared = deps.store;
  }

  /** Starts hearing other instances' events (Redis only). */
  async start(): Promise<void> {
    await this.shared?.subscribe(CHANNEL, (message) => {
      try {
        const { key, event } = JSON.parse(message) as { key: string; event: Stamped };
        this.deliver(key, event);
      } catch (err) {
        this.deps.log?.warn({ err }, 'playground: an event from another instance could not be read');
      }
    });
  }

  /** Shows an event to every tab that has the conversation open, on every instance. */
  publish(key: string, event: WebEvent): void {
    const e = { ...event, uid: randomUUID() };
    // the store tells this instance too: one path for everyone, in the order Redis saw them
    if (this.shared)
      void this.shared.publish(CHANNEL, JSON.stringify({ key, event: e })).catch((err: unknown) => this.deps.log?.warn({ err, conversation: key }, 'playground: an event could not be shared'));
    else this.deliver(key, e);
  }

  private deliver(key: string, e: Stamped): void {
    const max = this.deps.limits?.transcript ?? 300;
    let t = this.transcripts.get(key);
    if (!t) {
      t = [];
      this.transcripts.set(key, t);
      // the oldest conversation's transcript goes first (a Map iterates in insertion order)
      if (this.transcripts.size > (this.deps.limits?.conversations ?? 500)) this.transcripts.delete(this.transcripts.keys().next().value!);
    }
    // streamed text replaces the previous piece of the same reply: a transcript holds each reply once
    if (e.type === 'text') {
      const i = t.findIndex((x) => x.type === 'text' && x.reply === e.reply);
      if (i >= 0) t.splice(i, 1);
    }
    t.push(e);
    if (t.length > max) t.splice(0, t.length - max);
    for (const l of this.listeners.get(key) ?? []) l(e);
  }

  /** The conversation so far, then every event as it comes, until the returned function is called. */
  subscribe(key: string, listener: Listener): () => void {
    for (const e of this.transcripts.get(key) ?? []) listener(e);
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (!set.size) this.listeners.delete(key);
    };
  }

  /** Keeps a file for the page and returns its id. */
  async putFile(bytes: Uint8Array, contentType: string, name: string): Promise<string> {
    const id = randomUUID();
    if (this.shared) {
      await this.shared.set(`web-file:${id}`, { contentType, name, data: Buffer.from(bytes).toString('base64') }, FILE_TTL_MS);
      return id;
    }
    this.files.set(id, { bytes, contentType, name });
    this.fileBytes += bytes.byteLength;
    for (const [old, f] of this.files) {
      if (this.fileBytes <= (this.deps.limits?.fileBytes ?? 64 * 1024 * 1024) || old === id) break;
      this.files.delete(old);
      this.fileBytes -= f.bytes.byteLength;
    }
    return id;
  }

  async file(id: string): Promise<HeldFile | undefined> {
    if (!this.shared) return this.files.get(id);
    return fromStored(await this.shared.get(`web-file:${id}`));
  }

  /** A file a person uploaded with a message, held until the turn reads it (ten minutes at most). */
  async putUpload(bytes: Uint8Array, contentType: string, name: string): Promise<string> {
    const id = randomUUID();
    if (this.shared) {
      await this.shared.set(`web-upload:${id}`, { contentType, name, data: Buffer.from(bytes).toString('base64') }, UPLOAD_TTL_MS);
      return id;
    }
    const now = Date.now();
    for (const [old, u] of this.uploads) if (now - u.at > UPLOAD_TTL_MS) this.uploads.delete(old);
    this.uploads.set(id, { file: { bytes, contentType, name }, at: now });
    return id;
  }

  async takeUpload(id: string): Promise<HeldFile | undefined> {
    if (this.shared) {
      const stored = fromStored(await this.shared.get(`web-upload:${id}`));
      await this.shared.delete(`web-upload:${id}`);
      return stored;
    }
    const u = this.uploads.get(id);
    this.uploads.delete(id);
    return u?.file;
  }
}

function fromStored(v: unknown): HeldFile | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { contentType, name, data } = v as Record<string, unknown>;
  if (typeof contentType !== 'string' || typeof name !== 'string' || typeof data !== 'string') return undefined;
  return { contentType, name, bytes: new Uint8Array(Buffer.from(data, 'base64')) };
}
