/**
 * Slack ingest: signed recorded mention events posted to /slack/events by autocannon (this
 * process) against each server in its own process; ack latency at a fixed rate and throughput at
 * saturation, for Threadline, Bolt's stock receiver and a floor server, in the same run.
 *
 * The events are deliveries of mentions Threadline has already answered (Slack redelivers, and
 * sends every mention twice): the server marks them answered before the load starts, so on
 * Threadline each one goes through the signature check, parsing, the ack, routing and the Redis
 * dedupe (SET NX PX), and stops there. Turn costs are measured by the turn benchmark, not here.
 */
import autocannon from 'autocannon';
import type { ChildProcess } from 'node:child_process';
import { signSlackBody } from '../adapters/slack/verify.js';
import { log, round, startReadyServer } from './lib.js';
import { ingestBodies } from './slack-events.js';

const SECRET = 'bench-signing-secret';

function startServer(kind: string, redisUrl: string): Promise<{ port: number; child: ChildProcess }> {
  return startReadyServer('ingest-server.ts', [kind, SECRET, redisUrl, `threadline-bench:${Date.now()}:`]);
}

function requests(list: string[]) {
  return list.map((body) => ({ method: 'POST' as const, path: '/slack/events', headers: { 'content-type': 'application/json', ...signSlackBody(SECRET, body) }, body }));
}

async function load(port: number, reqs: ReturnType<typeof requests>, opts: { rate?: number; seconds: number; connections: number }) {
  const result = await autocannon({ url: `http://127.0.0.1:${port}`, connections: opts.connections, duration: opts.seconds, requests: reqs, ...(opts.rate ? { overallRate: opts.rate } : {}) });
  const bad = result.non2xx + result.errors + result.timeouts;
  return { p50: result.latency.p50, p99: result.latency.p99, rps: result.requests.average, sent: result.requests.total, bad };
}

export interface IngestResult {
  kind: string;
  fixedRate: { rate: number; p50Ms: number; p99Ms: number; failed: number };
  saturation: { eventsPerSec: number; p99Ms: number; failed: number };
}

export async function benchIngest(opts: { redisUrl: string; seconds: number }): Promise<IngestResult[]> {
  const out: IngestResult[] = [];
  for (const kind of ['floor', 'bolt', 'threadline', 'threadline-ambient']) {
    log(`ingest: ${kind}`);
    const { port, child } = await startServer(kind.replace('-ambient', ''), opts.redisUrl);
    try {
      // threadline-ambient: channel chatter not addressed to the bot (no meeting): Bolt runs, the router drops it
      const reqs = requests(ingestBodies(200, kind === 'threadline-ambient' ? 'ambient' : 'mention'));
      // warm-up (the Threadline server has these messages marked as answered already: every delivery is a redelivery)
      await load(port, reqs, { seconds: 2, connections: 4, rate: 200 });
      const fixed = await load(port, reqs, { rate: 500, seconds: opts.seconds, connections: 10 });
      const sat = await load(port, reqs, { seconds: opts.seconds, connections: 50 });
      out.push({
        kind,
        fixedRate: { rate: 500, p50Ms: fixed.p50, p99Ms: fixed.p99, failed: fixed.bad },
        saturation: { eventsPerSec: round(sat.rps, 0), p99Ms: sat.p99, failed: sat.bad },
      });
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
  }
  return out;
}
