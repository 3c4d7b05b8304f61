import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pace } from '../../src/engine/pace.js';
import { ReadyRing } from '../../src/engine/ready-ring.js';
import { LocalStore } from '../../src/store/index.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { inbound, makeEngine } from '../engine/harness.js';
import { boot, fakeEnv, fixture, postSlack } from '../app-harness.js';
import { metric } from '../child-process.js';
import { FakeSlack } from '../fakes/slack.js';

let fake: FakeDashScope;
beforeAll(async () => {
  fake = await new FakeDashScope().start();
});
afterAll(() => fake.stop());

describe('the ready ring', () => {
  it('takes channels in turn, each channel oldest first, and keeps a waiting conversation in its place', () => {
    const ring = new ReadyRing();
    for (let i = 1; i <= 3; i++) ring.add(`slack:T:FLOOD:${i}`, i);
    ring.add('slack:T:CALM:1', 10);
    ring.add('slack:T:FLOOD:1', 99); // already waiting: keeps its place and time
    expect(ring.size).toBe(4);
    expect(ring.oldest()).toBe(1);
    const order = [];
    for (let next = ring.take(); next; next = ring.take()) order.push(next.key);
    expect(order).toEqual(['slack:T:FLOOD:1', 'slack:T:CALM:1', 'slack:T:FLOOD:2', 'slack:T:FLOOD:3']);
    expect(ring.size).toBe(0);
    expect(ring.oldest()).toBeUndefined();
  });
});

describe('the pace (AIMD)', () => {
  it('halves on a 429 (once per burst), climbs back by one per round of successes, never below 1 or above the max', () => {
    const changes: Array<[number, string]> = [];
    const pace = new Pace(16, { onChange: (limit, why) => changes.push([limit, why]) });
    pace.throttled(1_000);
    pace.throttled(1_100); // the same burst
    expect(pace.limit).toBe(8);
    pace.throttled(2_500);
    pace.throttled(4_000);
    pace.throttled(5_500);
    pace.throttled(7_000);
    pace.throttled(8_500);
    expect(pace.limit).toBe(1);
    let calls = 0;
    while (pace.limit < 16) {
      pace.succeeded();
      calls++;
    }
    // 1 → 16 additively: about the sum of the limits on the way (1 + 2 + … + 15 = 120)
    expect(calls).toBeGreaterThan(100);
    expect(calls).toBeLessThan(140);
    for (let i = 0; i < 50; i++) pace.succeeded();
    expect(pace.limit).toBe(16);
    expect(changes.slice(0, 2)).toEqual([
      [8, 'throttled'],
      [4, 'throttled'],
    ]);
    expect(changes.at(-1)).toEqual([16, 'recovered']);
  });
});

describe('bounded turns', () => {
  it('runs at most TURN_CONCURRENCY turns at once; the rest wait and are all answered', async () => {
    const { engine, platform } = await makeEngine(fake, new LocalStore(), { options: { turnConcurrency: 3 } });
    let running = 0;
    let peak = 0;
    fake.model = async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      running--;
      return { text: 'ok' };
    };
    const channels = Array.from({ length: 12 }, (_, i) => `BT${i}`);
    for (const channel of channels) await engine.receive(inbound(platform, { channel }));
    expect(engine.backlog()).toMatchObject({ limit: 3 });
    expect(engine.busy).toBeLessThanOrEqual(3);
    await engine.idle();
    expect(peak).toBeLessThanOrEqual(3);
    for (const channel of channels) expect(platform.endings(channel)).toHaveLength(1);
    expect(engine.backlog()).toEqual({ waiting: 0, oldestSeconds: 0, limit: 3 });
  });

  it('a flood in one channel does not hold back another channel: its message is next', async () => {
    const { engine, platform } = await makeEngine(fake, new LocalStore(), { options: { turnConcurrency: 1 } });
    let release!: () => void;
    const first = new Promise<void>((r) => (release = r));
    fake.model = ({ newUserMessages }) => (newUserMessages.join().includes('flood 1') ? { text: 'first', until: first } : { text: 'ok' });
    const started: string[] = [];
    engine.on('run-started', ({ key }) => started.push(key.split(':')[2] + ':' + key.split(':')[3]));
    // twenty mentions in FLOOD, each its own thread (conversation), then one in CALM
    for (let i = 1; i <= 20; i++) {
      const key = `slack:T1:FLOOD:${i}.0`;
      await engine.receive(inbound(platform, { key, target: { platform: 'slack', channel: 'FLOOD', threadTs: `${i}.0` }, channelKey: 'slack:T1:FLOOD', text: `flood ${i}` }));
    }
    await engine.receive(inbound(platform, { channel: 'CALM', text: 'calm' }));
    expect(engine.backlog().waiting).toBe(20);
    release();
    await engine.idle();
    // round robin across channels: CALM waits for at most one more FLOOD turn, not for the nineteen left (FIFO would make it last)
    expect(started.slice(0, 3)).toEqual(['FLOOD:1.0', 'FLOOD:2.0', 'CALM:1.0']);
    expect(started).toHaveLength(21);
  });
});

describe('pace toward DashScope, end to end', () => {
  it('a 429 lowers the turns run at once (shown in /metrics), the person still gets the answer, and successes bring it back', async () => {
    const slack = await new FakeSlack().start();
    const app = await boot({ ...fakeEnv({ ds: fake, slack }), TURN_CONCURRENCY: '8' });
    const concurrency = async () => metric(await (await fetch(`${app.url}/metrics`)).text(), 'threadline_turn_concurrency');
    try {
      expect(await concurrency()).toBe(8);
      fake.model = () => ({ text: 'answered anyway' });
      // DashScope refuses the first call for its rate; the client waits Retry-After and tries again
      fake.faults = [{ kind: '429', retryAfter: 0, times: 1 }];
      const mention = fixture('slack.json').mention;
      let n = 0;
      const ask = async () => {
        n++;
        const ts = `1780000${String(n).padStart(3, '0')}.000100`;
        await postSlack(app.url, { ...mention, event_id: `EvPACE${n}`, event: { ...mention.event, ts, event_ts: ts, channel: 'CPACE' } });
        await app.slack!.idle();
        return slack.visible('CPACE', ts).join('\n');
      };
      expect(await ask()).toContain('answered anyway');
      expect(await concurrency()).toBe(4);
      // each answered turn is a few successful calls: the limit climbs back to 8 within a few turns
      while ((await concurrency()) < 8 && n < 40) await ask();
      expect(await concurrency()).toBe(8);
      expect(n).toBeLessThan(40);
    } finally {
      fake.faults = [];
      await app.stop(1_000);
      await slack.stop();
    }
  });
});
