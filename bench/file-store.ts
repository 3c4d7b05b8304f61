/**
 * The embedded file store at size: 100,000 conversation-like records, then awaited saves one after
 * another (an acknowledged event waits for its save). keyv-file (earlier releases) rewrites the whole
 * JSON file per save; the journal appends one line. Also: how long the next start takes to load them.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Keyv } from 'keyv';
import { KeyvFile } from 'keyv-file';
import { LocalStore } from '../src/store/local.js';
import { tempDir } from '../test/helpers.js';
import { percentile, round } from './lib.js';

const record = (i: number) => ({
  backend: 'assistant',
  threadId: `thread_${i.toString(36).padStart(24, '0')}`,
  reply: { platform: 'slack', channel: 'C0123456789', thread: '1767500000.000100' },
  participants: ['U0123456789'],
  lastActivity: 1_767_500_000_000 + i,
});

export interface FileStoreRow {
  store: string;
  records: number;
  'save p50 ms': number;
  'save p99 ms': number;
  'bytes written per save': number;
  'load ms': number;
}

export async function benchFileStore(opts: { records: number; saves: number }): Promise<FileStoreRow[]> {
  const rows: FileStoreRow[] = [];
  for (const kind of ['keyv-file', 'journal'] as const) {
    const dir = tempDir('bench-file');
    const file = join(dir, kind === 'journal' ? 'threadline.jsonl' : 'threadline.json');
    const open = () => (kind === 'journal' ? new LocalStore({ file }) : new Keyv({ store: new KeyvFile({ filename: file, writeDelay: 10, expiredCheckDelay: 60_000 }), namespace: 'threadline' }));
    const store = open();
    for (let i = 0; i < opts.records; i += 1_000) await Promise.all(Array.from({ length: 1_000 }, (_, j) => store.set(`conversation:${i + j}`, record(i + j))));
    await store.set('warm', 1);
    const sizeBefore = statSync(file).size;
    let written = 0;
    const times: number[] = [];
    for (let n = 0; n < opts.saves; n++) {
      const before = statSync(file).size;
      const t = performance.now();
      await store.set(`conversation:${(n * 7919) % opts.records}`, record(n));
      times.push(performance.now() - t);
      // keyv-file replaces the file: what it wrote is the whole file; the journal grows by what it wrote
      written += kind === 'journal' ? statSync(file).size - before : statSync(file).size;
    }
    void sizeBefore;
    if (store instanceof LocalStore) await store.close();
    else await store.disconnect();
    const t = performance.now();
    const again = open();
    await again.get('warm');
    const loadMs = performance.now() - t;
    if (again instanceof LocalStore) await again.close();
    rows.push({
      store: kind,
      records: opts.records,
      'save p50 ms': round(percentile(times, 50)),
      'save p99 ms': round(percentile(times, 99)),
      'bytes written per save': Math.round(written / opts.saves),
      'load ms': round(loadMs, 0),
    });
  }
  return rows;
}
