/**
 * `npm run bench`: every benchmark in one run; prints tables and writes bench/results.json.
 * Knobs: BENCH_REDIS_URL (redis://127.0.0.1:6379), BENCH_SECONDS (10 per ingest phase),
 * BENCH_TURNS (200), BENCH_CONVERSATIONS (1000), BENCH_MEETING_LINES (10000), BENCH_MEETING_RATE (50),
 * BENCH_FILE_RECORDS (100000), BENCH_BURST (20000); BENCH_ONLY picks some of ingest,bolt,overhead,streaming,scale,burst,meeting,filestore.
 * For the burst: BENCH_PROFILE=<dir> writes the instance's CPU profile, BENCH_NODE_ARGS adds flags to its node.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchBoltListeners } from './bolt-listeners.js';
import { benchBurst } from './burst.js';
import { benchFileStore } from './file-store.js';
import { benchIngest } from './ingest.js';
import { log, machine, round, table } from './lib.js';
import { benchMeeting } from './meeting.js';
import { benchScale } from './scale.js';
import { benchOverhead, benchOverheadResponses, benchStreaming } from './turns.js';

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const only = (process.env.BENCH_ONLY ?? 'ingest,bolt,overhead,streaming,scale,burst,meeting,filestore').split(',');

async function main(): Promise<void> {
  const results: Record<string, unknown> = { machine: machine(), at: new Date().toISOString() };
  if (only.includes('ingest')) {
    const ingest = await benchIngest({ redisUrl, seconds: env('BENCH_SECONDS', 10) });
    const bolt = ingest.find((r) => r.kind === 'bolt')!;
    const rows = ingest.map((r) => ({
      server: r.kind,
      'p50 ms @500/s': r.fixedRate.p50Ms,
      'p99 ms @500/s': r.fixedRate.p99Ms,
      'events/s (saturation)': r.saturation.eventsPerSec,
      'ratio vs Bolt': round(r.saturation.eventsPerSec / bolt.saturation.eventsPerSec, 2),
      failed: r.fixedRate.failed + r.saturation.failed,
    }));
    results.ingest = rows;
    console.log(`\nSlack ingest (autocannon in another process)\n${table(rows)}`);
  }
  if (only.includes('bolt')) {
    const bolt = await benchBoltListeners();
    results.boltListeners = bolt;
    console.log(
      `\nBolt's cost per mention by listener layout (App.processEvent, no network)\n${table(bolt.map((r) => ({ layout: r.layout, listeners: r.listeners, 'µs per event': r.usPerEvent, 'CPU µs per event': r.cpuUsPerEvent })))}`,
    );
  }
  if (only.includes('overhead')) {
    const overhead = [...(await benchOverhead({ turns: env('BENCH_TURNS', 200), redisUrl })), await benchOverheadResponses({ turns: env('BENCH_TURNS', 200), redisUrl })];
    const rows = overhead.map((r) => ({
      store: r.store,
      'event→Message.create (responses.create) p50': r.receivedToCreateMs.p50,
      p99: r.receivedToCreateMs.p99,
      'completed→Slack post p50': r.completedToSlackPostMs.p50,
      'p99 ': r.completedToSlackPostMs.p99,
      'completed→Discord post p50': r.completedToDiscordPostMs.p50,
      'p99  ': r.completedToDiscordPostMs.p99,
    }));
    results.turnOverheadMs = overhead;
    console.log(`\nTurn overhead in ms (fake model answers at once)\n${table(rows)}`);
  }
  if (only.includes('streaming')) {
    const streaming = await benchStreaming({ turns: Math.min(50, env('BENCH_TURNS', 200)), redisUrl });
    results.streaming = streaming;
    console.log(
      `\nFirst visible text after the model's first delta, in ms\n${table(streaming.map((s) => ({ mode: s.mode, 'Slack p50': s.firstTextSlackMs.p50, 'Slack p99': s.firstTextSlackMs.p99, 'Discord p50': s.firstTextDiscordMs.p50, 'Discord p99': s.firstTextDiscordMs.p99, 'DashScope requests/turn': s.dashscopeRequestsPerTurn })))}`,
    );
  }
  if (only.includes('scale')) {
    // V8's defaults keep garbage until they need the room; a heap cap sized for the machine shows the real footprint
    // the compiled build, as the Docker image runs it (npm run build first)
    execFileSync(process.execPath, [join(import.meta.dirname, '../node_modules/typescript/bin/tsc'), '-p', join(import.meta.dirname, '../tsconfig.build.json')]);
    const compiled = join(import.meta.dirname, '../dist');
    const scale = [
      await benchScale({ conversations: env('BENCH_CONVERSATIONS', 1000), redisUrl }),
      await benchScale({ conversations: env('BENCH_CONVERSATIONS', 1000), redisUrl, compiled }),
      await benchScale({ conversations: env('BENCH_CONVERSATIONS', 1000), redisUrl, nodeOptions: '--max-old-space-size=200' }),
      await benchScale({ conversations: env('BENCH_CONVERSATIONS', 1000), redisUrl, nodeOptions: '--max-old-space-size=200', compiled }),
    ];
    results.scale = scale;
    console.log(`\nScale\n${table(scale as unknown as Array<Record<string, number>>)}`);
  }
  if (only.includes('burst')) {
    execFileSync(process.execPath, [join(import.meta.dirname, '../node_modules/typescript/bin/tsc'), '-p', join(import.meta.dirname, '../tsconfig.build.json')]);
    const compiled = join(import.meta.dirname, '../dist');
    const events = env('BENCH_BURST', 20_000);
    // the anchor first (a plain Bolt app doing the same turn), then Threadline alone, with kill -9 halfway, and two instances sharing the burst
    const burst = [
      await benchBurst({ events, redisUrl, anchor: true }),
      await benchBurst({ events, redisUrl, compiled }),
      await benchBurst({ events, redisUrl, compiled, kill: true }),
      await benchBurst({ events, redisUrl, compiled, instances: 2 }),
    ];
    results.burst = burst;
    console.log(`\nBurst of mentions (compiled build, Redis)\n${table(burst as unknown as Array<Record<string, number>>)}`);
  }
  if (only.includes('meeting')) {
    const meeting = await benchMeeting({ lines: env('BENCH_MEETING_LINES', 10_000), rate: env('BENCH_MEETING_RATE', 50), redisUrl });
    results.meeting = meeting;
    console.log(
      `\nMeeting capture\n${table([{ lines: meeting.lines, 'lines/s': meeting.ratePerSec, 'Message.create calls': meeting.captureRequests, lost: meeting.linesLost, 'out of order': meeting.outOfOrder, 'lag p50 ms': meeting.lagMs.p50, 'lag p99 ms': meeting.lagMs.p99, 'lag max ms': meeting.lagMs.max }])}`,
    );
  }
  if (only.includes('filestore')) {
    const rows = await benchFileStore({ records: env('BENCH_FILE_RECORDS', 100_000), saves: 100 });
    results.fileStore = rows;
    console.log(`\nEmbedded file store (awaited saves one after another)\n${table(rows as unknown as Array<Record<string, number>>)}`);
  }
  const file = join(import.meta.dirname, 'results.json');
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${file}`);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
