import { EventEmitter } from 'node:events';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { defaultDeserialize } from '@keyv/serialize';
import type { KeyvStoreAdapter, StoredData } from 'keyv';

interface Entry {
  v: unknown;
  e?: number;
}

/**
 * Keyv's embedded file store for one instance: the data lives in memory and every change is one
 * appended JSON line (`{"k":…,"v":…,"e":…}` or `{"k":…,"d":1}`), so a save costs the size of the
 * change, not of the whole store. When the file has grown to twice what is alive (and past
 * `compactBytes`) it is rewritten once from memory into a temporary file and renamed over the old
 * one, so a crash mid-compaction leaves the old journal whole.
 *
 * Why not a library: keyv-file (the earlier store) rewrites the whole JSON file after every change
 * (measured with `npm run bench`: see README, Performance), and @keyv/sqlite needs the native
 * sqlite3 module, whose install downloads a prebuilt binary or compiles SQLite on the machine.
 *
 * A write resolves once its line is on the disk: appended, then `fdatasync`ed, so it survives a
 * crash or `kill -9` of the process and a power cut or a machine stop too. It rejects when the
 * write or the sync fails (a full disk, an I/O error): the caller learns of it instead of losing
 * the change. Writes that arrive together are appended in one system call and share one sync
 * (group commit), so a burst pays one sync per batch, not per write (measured in `npm run bench`,
 * `BENCH_ONLY=filestore`). A compaction syncs the new file and then the directory, so the rename
 * is durable as well.
 *
 * @example new Keyv({ store: new JournalFile({ filename: './data/threadline.jsonl' }) })
 */
export class JournalFile extends EventEmitter implements KeyvStoreAdapter {
  readonly opts: { filename: string; compactBytes: number; onError?: (err: Error) => void };
  namespace?: string;
  private readonly data = new Map<string, Entry>();
  private handle?: FileHandle;
  /** Bytes in the journal file, and roughly how many of them are still alive. */
  private fileBytes = 0;
  private liveBytes = 0;
  private readonly lineBytes = new Map<string, number>();
  private queue: Array<{ key: string; line: string; before?: Entry; after?: Entry; done: (err?: Error) => void }> = [];
  private flushing?: Promise<void>;
  private closed = false;
  private readonly sweep: NodeJS.Timeout;
  /** Lines the last load could not read (a write torn by a crash is the last line; it is skipped). */
  readonly skippedLines: number;

  constructor(opts: { filename: string; compactBytes?: number; legacyFile?: string; onError?: (err: Error) => void }) {
    super();
    this.opts = { filename: opts.filename, compactBytes: opts.compactBytes ?? 4 * 1024 * 1024, onError: opts.onError };
    this.skippedLines = this.load(opts.legacyFile);
    this.sweep = setInterval(() => this.dropExpired(), 60_000).unref();
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    const entry = this.data.get(key);
    if (!entry) return undefined;
    if (entry.e !== undefined && entry.e <= Date.now()) return undefined;
    return entry.v as StoredData<Value>;
  }

  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    return Promise.all(keys.map((k) => this.get<Value>(k)));
  }

  async has(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined;
  }

  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    const e = typeof ttl === 'number' && ttl > 0 ? Date.now() + ttl : undefined;
    const before = this.data.get(key);
    const after: Entry = e === undefined ? { v: value } : { v: value, e };
    this.data.set(key, after);
    await this.append(key, JSON.stringify(e === undefined ? { k: key, v: value } : { k: key, v: value, e }), before, after);
    return true;
  }

  async delete(key: string): Promise<boolean> {
    const before = this.data.get(key);
    if (!before) return false;
    this.data.delete(key);
    await this.append(key, JSON.stringify({ k: key, d: 1 }), before, undefined);
    return true;
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    const results = await Promise.all(keys.map((k) => this.delete(k)));
    return results.some(Boolean);
  }

  async clear(): Promise<void> {
    const keys = [...this.data.keys()].filter((k) => !this.namespace || k.startsWith(`${this.namespace}:`));
    await this.deleteMany(keys);
  }

  /** Waits for every write, then closes the file. */
  async disconnect(): Promise<void> {
    clearInterval(this.sweep);
    while (this.flushing) await this.flushing;
    this.closed = true;
    await this.handle?.close();
    this.handle = undefined;
  }

  /** How many keys are alive right now (for tests and the benchmark). */
  get size(): number {
    return this.data.size;
  }

  private append(key: string, line: string, before: Entry | undefined, after: Entry | undefined): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the file store is closed'));
    const oldBytes = this.lineBytes.get(key) ?? 0;
    if (this.data.has(key)) {
      const bytes = Buffer.byteLength(line) + 1;
      this.lineBytes.set(key, bytes);
      this.liveBytes += bytes - oldBytes;
    } else {
      this.lineBytes.delete(key);
      this.liveBytes -= oldBytes;
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ key, line, before, after, done: (err) => (err ? reject(err) : resolve()) });
      this.flushing ??= this.flush();
    });
  }

  /** Appends what is queued, one system call per batch, until nothing is left; compacts between batches. */
  private async flush(): Promise<void> {
    try {
      while (this.queue.length) {
        if (this.fileBytes === Number.MAX_SAFE_INTEGER) await this.compact();
        const batch = this.queue;
        this.queue = [];
        const chunk = `${batch.map((b) => b.line).join('\n')}\n`;
        const good = this.fileBytes;
        try {
          this.handle ??= await open(this.opts.filename, 'a');
          const buf = Buffer.from(chunk);
          for (let off = 0; off < buf.length;) off += (await this.handle.write(buf, off)).bytesWritten;
          this.fileBytes += buf.length;
          // on the disk, not only in the kernel's cache: what was acknowledged survives a power cut
          await this.handle.datasync();
          for (const b of batch) b.done();
        } catch (err) {
          await this.undo(batch, good);
          for (const b of batch) b.done(err as Error);
          continue;
        }
        if (this.fileBytes > this.opts.compactBytes && this.fileBytes > 2 * this.liveBytes) await this.compact();
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /**
   * A batch the file refused (a full disk, say) did not happen: its callers are told (a turn fails,
   * an event is not acknowledged and Slack sends it again), memory goes back to what it was unless
   * a later write changed the key since, and the file is cut back to its last whole line. When it
   * cannot be cut, the next write first rewrites the file from memory (a compaction).
   */
  private async undo(batch: typeof this.queue, goodBytes: number): Promise<void> {
    for (const b of [...batch].reverse()) {
      if (this.data.get(b.key) !== b.after) continue;
      if (b.before) this.data.set(b.key, b.before);
      else this.data.delete(b.key);
    }
    try {
      await this.handle?.truncate(goodBytes);
    } catch {
      // cut short or not, the file is rewritten whole from memory before anything else is appended
      this.fileBytes = Number.MAX_SAFE_INTEGER;
      await this.handle?.close().catch(() => undefined); // reopened by the compaction; nothing more to do with a broken handle
      this.handle = undefined;
      await this.compact();
    }
  }

  /** Writes what is alive into `<file>.tmp`, syncs it and renames it over the journal. */
  private async compact(): Promise<void> {
    const tmp = `${this.opts.filename}.tmp`;
    const out = await open(tmp, 'w');
    let bytes = 0;
    try {
      const now = Date.now();
      let lines: string[] = [];
      const writeLines = async () => {
        const buf = Buffer.from(lines.join(''));
        for (let off = 0; off < buf.length;) off += (await out.write(buf, off)).bytesWritten;
        bytes += buf.length;
        lines = [];
      };
      for (const [k, { v, e }] of this.data) {
        if (e !== undefined && e <= now) continue;
        lines.push(`${JSON.stringify(e === undefined ? { k, v } : { k, v, e })}\n`);
        if (lines.length >= 1_000) await writeLines();
      }
      await writeLines();
      await out.sync();
    } catch (err) {
      // The journal is still whole (only the temporary file failed): keep appending, try again later.
      this.opts.onError?.(err as Error);
      await out.close();
      return;
    }
    await out.close();
    await this.handle?.close();
    this.handle = undefined;
    renameSync(tmp, this.opts.filename);
    syncDirectory(this.opts.filename);
    this.fileBytes = bytes;
    this.liveBytes = bytes;
  }

  private dropExpired(): void {
    const now = Date.now();
    for (const [k, { e }] of this.data) {
      if (e !== undefined && e <= now) {
        this.data.delete(k);
        this.liveBytes -= this.lineBytes.get(k) ?? 0;
        this.lineBytes.delete(k);
      }
    }
  }

  /** Reads the journal (or, the first time, keyv-file's JSON file); returns the lines it skipped. */
  private load(legacyFile?: string): number {
    if (!existsSync(this.opts.filename)) {
      if (legacyFile && existsSync(legacyFile)) this.importLegacy(legacyFile);
      return 0;
    }
    const text = readFileSync(this.opts.filename, 'utf8');
    this.fileBytes = statSync(this.opts.filename).size;
    let skipped = 0;
    const now = Date.now();
    for (const line of text.split('\n')) {
      if (!line) continue;
      let rec: { k?: unknown; v?: unknown; e?: unknown; d?: unknown };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        // a line cut short by a crash mid-write: the change it carried was never acknowledged
        skipped++;
        continue;
      }
      if (typeof rec.k !== 'string') {
        skipped++;
        continue;
      }
      if (rec.d) {
        this.data.delete(rec.k);
        this.lineBytes.delete(rec.k);
      } else if (typeof rec.e === 'number' && rec.e <= now) {
        this.data.delete(rec.k);
        this.lineBytes.delete(rec.k);
      } else {
        this.data.set(rec.k, typeof rec.e === 'number' ? { v: rec.v, e: rec.e } : { v: rec.v });
        this.lineBytes.set(rec.k, Buffer.byteLength(line) + 1);
      }
    }
    this.liveBytes = [...this.lineBytes.values()].reduce((a, b) => a + b, 0);
    if (skipped) {
      // start the next append on a line of its own
      const fd = openSync(this.opts.filename, 'a');
      if (!text.endsWith('\n')) writeSync(fd, '\n');
      closeSync(fd);
    }
    return skipped;
  }

  /** keyv-file kept `{cache: [[key, {value, expire}]]}` in one JSON file: its records become the first journal. */
  private importLegacy(file: string): void {
    // keyv-file wrote it with @keyv/serialize (JSON that keeps Buffers as ':base64:' strings)
    const parsed = defaultDeserialize<{ cache?: Array<[string, { value: unknown; expire?: number }]> | Record<string, { value: unknown; expire?: number }> }>(readFileSync(file, 'utf8'));
    const entries = Array.isArray(parsed.cache) ? parsed.cache : Object.entries(parsed.cache ?? {});
    const now = Date.now();
    const lines: string[] = [];
    for (const [k, { value, expire }] of entries) {
      if (typeof expire === 'number' && expire <= now) continue;
      this.data.set(k, typeof expire === 'number' ? { v: value, e: expire } : { v: value });
      const line = JSON.stringify(typeof expire === 'number' ? { k, v: value, e: expire } : { k, v: value });
      this.lineBytes.set(k, Buffer.byteLength(line) + 1);
      lines.push(`${line}\n`);
    }
    const tmp = `${this.opts.filename}.tmp`;
    const fd = openSync(tmp, 'w');
    writeSync(fd, lines.join(''));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.opts.filename);
    syncDirectory(this.opts.filename);
    this.fileBytes = this.liveBytes = lines.reduce((a, l) => a + Buffer.byteLength(l), 0);
  }
}

/** Makes a rename in the file's directory durable (the directory entry is on the disk too). */
function syncDirectory(file: string): void {
  const fd = openSync(dirname(file), 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
