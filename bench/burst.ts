/**
 * A burst of unique mentions, as fast as 50 connections allow, at Threadline in its own process
 * (Redis store; the fake Slack answers ok, the fake DashScope answers at once): every acknowledged
 * event answered exactly once, ack p99 during the burst, peak RSS (the kernel's high-water mark,
 * VmHWM), turns/s, the time to drain, and how long a message in an unrelated channel waits for its
 * turn while the flood runs. With `kill`, the instance is killed with SIGKILL halfway and started
 * again: nothing acknowledged may be lost or answered twice.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import { createClient } from '@redis/client';
import { signSlackBody } from '../adapters/slack/verify.js';
import { FakeDashScope } from '../test/fakes/dashscope.js';
import { FakeSlack } from '../test/fakes/slack.js';
import { startChild, type ChildThreadline } from '../test/child-process.js';
import { log, percentile, round, startReadyServer } from './lib.js';
// the signing secret and environment the tests give Threadline against the fakes
import { SIGNING_SECRET as SECRET, fakeEnv, fixture } from '../test/app-harness.js';

const CONNECTIONS = 50;

export interface BurstResult {
  server: string;
  events: number;
  acked: number;
  answered: number;
  answeredTwice: number;
  /** Threads told "I was restarted while posting my last answer…" (kill -9 while the last part of a reply was going out). */
  interruptedNotices: number;
  lost: number;
  /** Of the lost, those whose person was not told (no notice that the answer may be incomplete): what was really dropped. */
  lostUntold: number;
  ackP99Ms: number;
  peakRssMB: number;
  turnsPerSec: number;
  drainSeconds: number;
  unrelatedStartMs: number;
  turnConcurrency: string;
  killed: boolean;
  /** CPU seconds used by Threadline and by this process (the load, the fake Slack and DashScope) over the run: on 2 cores, who was the bottleneck. */
  threadlineCpuSeconds: number;
  benchCpuSeconds: number;
}

/** The recorded mention, read once: the load must not spend the bench process's CPU re-reading it. */
const RECORDED = fixture('slack.json').mention;

function mention(i: number, channel = 'C00FLOOD01', ts = `1790${String(i).padStart(6, '0')}.000100`): { body: string; ts: string } {
  return { ts, body: JSON.stringify({ ...RECORDED, event_id: `EvBurst${channel}${i}`, event: { ...RECORDED.event, channel, ts, event_ts: ts } }) };
}

/** CPU seconds a process has used (user + system), from /proc. */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
}

/** VmHWM (peak resident set) and VmRSS of a process, in MB. */
function memoryOf(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { peak: kb('VmHWM') / 1024, now: kb('VmRSS') / 1024 };
}

/** The anchor: bench/servers/bolt-turn-server.ts in its own process. */
async function startAnchor(args: string[]): Promise<ChildThreadline> {
  const { port, child } = await startReadyServer('bolt-turn-server.ts', args);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    output: () => '',
    waitForOutput: () => Promise.reject(new Error('the anchor prints nothing to wait for')),
    stop: () => (child.kill('SIGINT'), exited),
    kill: async () => void (child.kill('SIGKILL'), await exited),
  };
}

export async function benchBurst(opts: { events: number; redisUrl: string; turnConcurrency?: number; kill?: boolean; compiled?: string; anchor?: boolean; instances?: number }): Promise<BurstResult> {
  log(`burst: ${opts.events} mentions${opts.anchor ? ' (plain Bolt app)' : ''}${opts.kill ? ', kill -9 halfway' : ''}${opts.turnConcurrency ? `, TURN_CONCURRENCY=${opts.turnConcurrency}` : ''}`);
  const [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
  ds.model = () => ({ text: 'ok' });
  const env = {
    ...fakeEnv({ ds, slack }),
    REDIS_URL: opts.redisUrl,
    REDIS_PREFIX: `threadline-burst:${Date.now()}:`,
    // one person flooding one channel: the per-person limits and Slack's tiers would pace it, not measure it
    TURNS_PER_MINUTE: '0',
    TURNS_IN_FLIGHT: '0',
    SLACK_RATE_LIMITS: 'off',
    INSTANCE_HEARTBEAT: '2s',
    ...(opts.turnConcurrency ? { TURN_CONCURRENCY: String(opts.turnConcurrency) } : {}),
  };
  // BENCH_PROFILE=<dir>: a V8 CPU profile of the instance, written when it stops
  // BENCH_NODE_ARGS: flags for the instance's node (heap settings to compare, say)
  const nodeArgs = [...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []), ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [])];
  let app: ChildThreadline = opts.anchor ? await startAnchor([SECRET, slack.apiUrl, slack.botToken, ds.url, ds.apiKey]) : await startChild(env, { compiled: opts.compiled, nodeArgs });
  // a second instance on the same Redis shares the burst: events go to each in turn, as a load balancer would send them
  const second = (opts.instances ?? 1) > 1 ? await startChild(env, { compiled: opts.compiled, nodeArgs }) : undefined;
  let secondPeak = 0;
  let peak = 0;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, memoryOf(app.child.pid!).peak);
      if (second) secondPeak = Math.max(secondPeak, memoryOf(second.child.pid!).peak);
    } catch {
      // between a kill and the restart there is no process to read
    }
  }, 100);
  const latencies: number[] = [];
  const ackedTs = new Set<string>();
  let sent = 0;
  let unrelated = { ackedAt: 0, ts: '' };
  const started = performance.now();
  const benchCpu0 = process.cpuUsage();
  let cpuBeforeKill = 0;
  let pool = new Pool(app.url, { connections: CONNECTIONS, pipelining: 1 });
  const pool2 = second ? new Pool(second.url, { connections: CONNECTIONS, pipelining: 1 }) : undefined;
  let turn = 0;
  const post = async (m: { body: string; ts: string }) => {
    const t0 = performance.now();
    try {
      const res = await (pool2 && turn++ % 2 ? pool2 : pool).request({
        path: '/slack/events',
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signSlackBody(SECRET, m.body) },
        body: m.body,
      });
      await res.body.dump();
      if (res.statusCode === 200) {
        latencies.push(performance.now() - t0);
        ackedTs.add(m.ts);
        return true;
      }
    } catch {
      // refused while the instance is down: not acknowledged, so Slack would send it again
    }
    return false;
  };
  const sendRange = async (from: number, to: number) => {
    let next = from;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (next < to) {
          const i = next++;
          sent++;
          await post(mention(i));
          // once a quarter of the flood is in, one message elsewhere: how long until its turn starts?
          if (i === from + Math.floor((to - from) / 4) && !unrelated.ts) {
            const m = mention(1, 'C00CALM001', '1791000000.000100');
            if (await post(m)) unrelated = { ackedAt: Date.now(), ts: m.ts };
          }
        }
      }),
    );
  };
  if (opts.kill) {
    await sendRange(0, Math.floor(opts.events / 2));
    await pool.close();
    cpuBeforeKill = cpuOf(app.child.pid!);
    await app.kill();
    app = await startChild(env, { compiled: opts.compiled, nodeArgs });
    pool = new Pool(app.url, { connections: CONNECTIONS, pipelining: 1 });
    await sendRange(Math.floor(opts.events / 2), opts.events);
  } else {
    await sendRange(0, opts.events);
  }
  const lastAck = performance.now();
  // answered: a finished stream, or a posted reply (a turn recovered after the kill posts instead of streaming)
  const finished = () => {
    const per = new Map<string, number>();
    // the notice after a restart that stopped a delivery is not an answer (see INTERRUPTED_DELIVERY): counted apart;
    // a stop Slack refused (a restart completing a reply in place whose stream was already stopped) is not a second answer
    for (const c of slack.log.filter((c) => (c.method === 'chat.stopStream' && c.result?.ok) || (c.method === 'chat.postMessage' && c.args.thread_ts && !String(c.text).startsWith(':warning:')))) {
      const ts = c.method === 'chat.stopStream' ? slack.streamThread(c.args.ts) : c.args.thread_ts;
      if (ts) per.set(ts, (per.get(ts) ?? 0) + 1);
    }
    return per;
  };
  let lastProgress = Date.now();
  let lastCount = -1;
  let done = finished();
  while (done.size < ackedTs.size && Date.now() - lastProgress < 30_000) {
    await new Promise((r) => setTimeout(r, 250));
    done = finished();
    if (done.size !== lastCount) {
      lastCount = done.size;
      lastProgress = Date.now();
    }
  }
  const end = performance.now();
  clearInterval(sampler);
  peak = Math.max(peak, memoryOf(app.child.pid!).peak);
  const threadlineCpu = cpuBeforeKill + cpuOf(app.child.pid!) + (second ? cpuOf(second.child.pid!) : 0);
  if (second) peak = Math.max(peak, secondPeak, memoryOf(second.child.pid!).peak);
  const benchCpu = process.cpuUsage(benchCpu0);
  const unrelatedStart = slack.log.filter((c) => (c.method === 'chat.startStream' || c.method === 'chat.postMessage') && c.args.thread_ts === unrelated.ts)[0];
  for (const [ts] of [...done].filter(([, n]) => n > 1).slice(0, 3)) {
    const calls = slack.log.filter((c) => c.args.thread_ts === ts || (c.method !== 'chat.startStream' && typeof c.args.ts === 'string' && slack.streamThread(c.args.ts) === ts));
    log(`burst: answered twice in ${ts}: ${calls.map((c) => `${c.method}${c.text ? ` "${c.text.slice(0, 60)}"` : ''}`).join(' → ')}`);
  }
  const perTurn = (calls: Array<{ method: string }>) => {
    const by = new Map<string, number>();
    for (const c of calls) by.set(c.method, (by.get(c.method) ?? 0) + 1);
    return Object.fromEntries([...by].map(([m, n]) => [m, round(n / Math.max(1, done.size), 2)]));
  };
  log(`burst: Slack calls per turn ${JSON.stringify(perTurn(slack.log.filter(() => true)))}`);
  log(
    `burst: DashScope calls per turn ${JSON.stringify(perTurn(ds.log.filter(() => true).map((c) => ({ method: `${c.method} ${c.path.replace(/\/(thread|run|msg|step|asst|file)_[\w-]+/g, '/{id}').replace(/[0-9a-f-]{36}/g, '{id}')}` }))))}`,
  );
  await pool.close();
  await pool2?.close();
  await second?.stop();
  await app.stop();
  // BENCH_LOG=<file>: what the instance logged (warnings and errors)
  if (process.env.BENCH_LOG) writeFileSync(process.env.BENCH_LOG, app.output());
  await Promise.all([ds.stop(), slack.stop()]);
  // what the run left in Redis goes: runs one after another must not each start on a fuller Redis
  await forget(opts.redisUrl, env.REDIS_PREFIX);
  const answered = [...ackedTs].filter((ts) => (done.get(ts) ?? 0) >= 1).length;
  const notices = slack.log.filter((c) => c.method === 'chat.postMessage' && String(c.text).includes('while posting my last answer'));
  const told = new Set(notices.map((c) => String(c.args.thread_ts)));
  const lostUntold = [...ackedTs].filter((ts) => !done.get(ts) && !told.has(ts)).length;
  const result: BurstResult = {
    events: opts.events,
    acked: latencies.length,
    answered,
    answeredTwice: [...done.values()].filter((n) => n > 1).length,
    interruptedNotices: notices.length,
    lost: ackedTs.size - answered,
    lostUntold,
    ackP99Ms: round(percentile(latencies, 99), 1),
    peakRssMB: round(peak, 0),
    turnsPerSec: round(answered / ((end - started) / 1000), 0),
    drainSeconds: round((end - lastAck) / 1000, 1),
    unrelatedStartMs: unrelatedStart ? unrelatedStart.at - unrelated.ackedAt : NaN,
    server: opts.anchor ? 'plain Bolt app' : second ? 'Threadline ×2' : 'Threadline',
    turnConcurrency: opts.anchor ? '' : String(opts.turnConcurrency ?? 'default'),
    killed: !!opts.kill,
    threadlineCpuSeconds: round(threadlineCpu, 1),
    benchCpuSeconds: round((benchCpu.user + benchCpu.system) / 1e6, 1),
  };
  log(`burst: ${JSON.stringify(result)} (sent ${sent})`);
  return result;
}

/** Deletes every key under `prefix`. */
async function forget(url: string, prefix: string): Promise<void> {
  const redis = await createClient({ url }).connect();
  try {
    const batch: string[] = [];
    for await (const keys of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      batch.push(...keys);
      if (batch.length >= 1000) await redis.unlink(batch.splice(0));
    }
    if (batch.length) await redis.unlink(batch);
  } finally {
    redis.destroy();
  }
}
