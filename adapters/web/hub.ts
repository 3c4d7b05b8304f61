import { randomUUID } from 'node:crypto';

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

type Listener = (event: WebEvent & { seq: number }) => void;

/** A file the page can fetch: an image of a reply, the minutes, code output. */
interface HeldFile {
  bytes: Uint8Array;
  contentType: string;
  name: string;
}

/**
 * The playground's live side: what every open tab of a conversation sees, as it happens. Each
 * conversation keeps its last TRANSCRIPT events so a tab that opens it (or reconnects) catches
 * up; files shown in replies are kept up to FILE_BYTES in all, oldest first out.
 *
 * This is the page's view only, in this process: the conversation itself (what the model knows)
 * lives in the store like Slack's and Discord's. A restart empties the transcript, not the memory.
 */
export class WebHub {
  private readonly transcripts = new Map<string, Array<WebEvent & { seq: number }>>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly files = new Map<string, HeldFile>();
  private readonly uploads = new Map<string, { file: HeldFile; at: number }>();
  private fileBytes = 0;
  private seq = 0;

  constructor(private readonly limits: { transcript?: number; conversations?: number; fileBytes?: number } = {}) {}

  publish(key: string, event: WebEvent): void {
    const e = { ...event, seq: ++this.seq };
    let t = this.transcripts.get(key);
    if (!t) {
      t = [];
      this.transcripts.set(key, t);
      // the oldest conversation's transcript goes first (a Map iterates in insertion order)
      if (this.transcripts.size > (this.limits.conversations ?? 500)) this.transcripts.delete(this.transcripts.keys().next().value!);
    }
    // streamed text replaces the previous piece of the same reply: a transcript holds each reply once
    if (e.type === 'text') {
      const i = t.findIndex((x) => x.type === 'text' && x.reply === e.reply);
      if (i >= 0) t.splice(i, 1);
    }
    t.push(e);
    if (t.length > (this.limits.transcript ?? 300)) t.splice(0, t.length - (this.limits.transcript ?? 300));
    for (const l of this.listeners.get(key) ?? []) l(e);
  }

  /** The conversation so far, then every event as it comes, until the returned function is called. */
  subscribe(key: string, listener: Listener, after = 0): () => void {
    for (const e of this.transcripts.get(key) ?? []) if (e.seq > after) listener(e);
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (!set.size) this.listeners.delete(key);
    };
  }

  /** Keeps a file for the page and returns its id. */
  putFile(bytes: Uint8Array, contentType: string, name: string): string {
    const id = randomUUID();
    this.files.set(id, { bytes, contentType, name });
    this.fileBytes += bytes.byteLength;
    for (const [old, f] of this.files) {
      if (this.fileBytes <= (this.limits.fileBytes ?? 64 * 1024 * 1024) || old === id) break;
      this.files.delete(old);
      this.fileBytes -= f.bytes.byteLength;
    }
    return id;
  }

  file(id: string): HeldFile | undefined {
    return this.files.get(id);
  }

  /** A file a person uploaded with a message, held until the turn reads it (or 10 minutes). */
  putUpload(bytes: Uint8Array, contentType: string, name: string): string {
    const now = Date.now();
    for (const [id, u] of this.uploads) if (now - u.at > 10 * 60_000) this.uploads.delete(id);
    const id = randomUUID();
    this.uploads.set(id, { file: { bytes, contentType, name }, at: now });
    return id;
  }

  takeUpload(id: string): HeldFile | undefined {
    const u = this.uploads.get(id);
    this.uploads.delete(id);
    return u?.file;
  }
}
