import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The recorded mention (or, for `ambient`, the same message without the mention), as `count` distinct events. */
export function ingestBodies(count: number, kind: 'mention' | 'ambient'): string[] {
  const rec = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'test/fixtures/recorded/slack.json'), 'utf8')).mention;
  return Array.from({ length: count }, (_, i) => {
    const ts = `17672${String(24888 + i).padStart(5, '0')}.280449`;
    const text = kind === 'mention' ? rec.event.text : 'just chatting in the channel';
    return JSON.stringify({ ...rec, event_id: `EvBench${i}`, event: { ...rec.event, text, ts, event_ts: ts } });
  });
}
