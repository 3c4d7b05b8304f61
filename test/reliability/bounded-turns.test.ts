import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pace } from '../../src/engine/pace.js';
import { PerKeyGate } from '../../src/engine/format/throttle.js';
import { ReadyRing } from '../../src/engine/ready-ring.js';
import { LocalStore } from '../../src/store/index.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { inbound, makeEngine } from '../engine/harness.js';
import { boot, fakeEnv, fixture, postSlack, discordDm } from '../app-harness.js';
import { metric } from '../child-process.js';
import { FakeSlack } from '../fakes/slack.js';
import { FakeDiscord } from '../fakes/discord.js';

let fake: FakeDashScope;
beforeAll(async () => {
  fake = await new FakeDashScope().start();
});
afterAll(() => fake.stop());

describe('the ready ring', () => {
  it('takes channels in turn, each channel oldest first, and keeps a waiting conversation in its place', () => {
    const ring = new ReadyRing();
    for (let i = 1; i <= 3; i++) ring.add(`slack:T:FLOOD:${i}`, 'U1', i);
    ring.add('slack:T:CALM:1', 'U1', 10);
    ring.add('slack:T:FLOOD:1', 'U2', 99); // already waiting: keeps its place, person and time
    expect(ring.size).toBe(4);
    expect(ring.oldest()).toBe(1);
    const order = [];
    for (let next = ring.take(); next; next = ring.take()) order.push(next.key);
    expect(order).toEqual(['slack:T:FLOOD:1', 'slack:T:CALM:1', 'slack:T:FLOOD:2', 'slack:T:FLOOD:3']);
    expect(ring.size).toBe(0);
    expect(ring.oldest()).toBeUndefined();
  });

  it('within a channel takes people in turn, so one person flooding a channel holds back someone else there by one turn', () => {
    const ring = new ReadyRing();
    for (let i = 1; i <= 4; i++) ring.add(`slack:T:C1:${i}`, 'FLOODER', i);
    ring.add('slack:T:C1:calm', 'CALM', 10);
    ring.add('slack:T:C1:resumed', '', 11); // resumed after a restart: its person is not known
    ring.add('slack:T:C2:1', 'FLOODER', 12);
    const order = [];
    for (let next = ring.take(); next; next = ring.take()) order.push(`${next.key}/${next.person}`);
    expect(order).toEqual(['slack:T:C1:1/FLOODER', 'slack:T:C2:1/FLOODER', 'slack:T:C1:calm/CALM', 'slack:T:C1:resumed/', 'slack:T:C1:2/FLOODER', 'slack:T:C1:3/FLOODER', 'slack:T:C1:4/FLOODER']);
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

  /**
   * One turn at a time; the turn of 'flood 1' holds until `release`. Records each started turn's
   * `<channel>:<thread>`; `mention` builds a message in its own thread, by `author`.
   */
  async function heldEngine() {
    const { engine, platform } = await makeEngine(fake, new LocalStore(), { options: { turnConcurrency: 1 } });
    let release!: () => void;
    const first = new Promise<void>((r) => (release = r));
    fake.model = ({ newUserMessages }) => (newUserMessages.join().includes('flood 1') ? { text: 'first', until: first } : { text: 'ok' });
    const started: string[] = [];
    engine.on('run-started', ({ key }) => started.push(key.split(':').slice(2).join(':')));
    const mention = (channel: string, thread: string, author: string, text: string) =>
      inbound(platform, {
        key: `slack:T1:${channel}:${thread}`,
        target: { platform: 'slack', channel, threadTs: thread },
        channelKey: `slack:T1:${channel}`,
        author: { id: author, name: author },
        text,
      });
    return { engine, release, started, mention };
  }

  // twenty mentions flood one channel, each its own thread (conversation), then one more message arrives:
  // in another channel, or by another person in the same channel. FIFO would make it last; the
  // ring starts it after at most one more turn of the flood.
  it.each([
    { title: 'a flood in one channel does not hold back another channel', flood: ['FLOOD', 'U1'], other: ['CALM', 'U1', '1.0'], first: ['FLOOD:1.0', 'FLOOD:2.0', 'CALM:1.0'] },
    {
      title: 'one person flooding a channel does not hold back another person in that channel',
      flood: ['BUSY', 'UFLOOD'],
      other: ['BUSY', 'UOTHER', '99.0'],
      first: ['BUSY:1.0', 'BUSY:2.0', 'BUSY:99.0'],
    },
  ])('$title: its message is next', async ({ flood, other, first }) => {
    const { engine, release, started, mention } = await heldEngine();
    for (let i = 1; i <= 20; i++) await engine.receive(mention(flood[0], `${i}.0`, flood[1], `flood ${i}`));
    await engine.receive(mention(other[0], other[2], other[1], 'my question'));
    expect(engine.backlog().waiting).toBe(20);
    release();
    await engine.idle();
    expect(started.slice(0, 3)).toEqual(first);
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

describe('a message waiting behind the backlog', () => {
  const held = () => {
    let release!: () => void;
    const until = new Promise<void>((r) => (release = r));
    fake.model = ({ newUserMessages }) => (newUserMessages.join().includes('first') ? { text: 'first answer', until } : { text: 'second answer' });
    return release;
  };

  it('on Slack shows the working indicator (the agent session) at once, before its turn starts; then is answered', async () => {
    const slack = await new FakeSlack().start();
    const app = await boot({ ...fakeEnv({ ds: fake, slack }), TURN_CONCURRENCY: '1' });
    const release = held();
    try {
      const mention = fixture('slack.json').mention;
      const at = (n: number, channel: string, text: string) => ({
        ...mention,
        event_id: `EvWAIT${n}`,
        event: { ...mention.event, ts: `177900000${n}.000100`, event_ts: `177900000${n}.000100`, channel, text: `<@U00FAKEBOT01> ${text}` },
      });
      await postSlack(app.url, at(1, 'CWAITA', 'first'));
      await slack.log.waitFor((c) => c.method === 'agents.sessions.setStatus' && c.args.channel_id === 'CWAITA' && c.args.status === 'processing', 10_000, 'first working');
      await postSlack(app.url, at(2, 'CWAITB', 'second'));
      // the second waits (one turn at a time), and its person sees the session working already
      const shown = await slack.log.waitFor((c) => c.method === 'agents.sessions.setStatus' && c.args.channel_id === 'CWAITB' && c.args.status === 'processing', 10_000, 'waiting shown');
      expect(app.engine.backlog().waiting).toBe(1);
      expect(slack.log.filter((c) => c.method === 'chat.startStream' && c.args.channel === 'CWAITB')).toHaveLength(0);
      release();
      await slack.log.waitFor((c) => c.method === 'chat.stopStream' && c.args.channel === 'CWAITB', 10_000, 'second answered');
      await app.slack!.idle();
      expect(slack.visible('CWAITB', '1779000002.000100').join('\n')).toContain('second answer');
      expect(slack.sessions.get('CWAITB:1779000002.000100')?.statuses.at(-1)).toBe('active');
      expect(shown.at).toBeLessThan(slack.log.filter((c) => c.method === 'chat.startStream' && c.args.channel === 'CWAITB')[0].at);
    } finally {
      release();
      await app.stop(1_000);
      await slack.stop();
    }
  });

  it('on Discord shows typing at once, before its turn starts; then is answered', async () => {
    const discord = await new FakeDiscord().start();
    const app = await boot({ ...fakeEnv({ ds: fake, discord }), TURN_CONCURRENCY: '1' });
    const release = held();
    const send = (channel: string, text: string) => discord.dispatch('MESSAGE_CREATE', discordDm(discord.nextId(), channel, text));
    try {
      send('1462000000000000001', 'first');
      await discord.rest.waitFor((c) => c.route === '/channels/1462000000000000001/typing', 10_000, 'first typing');
      send('1462000000000000010', 'second');
      await discord.rest.waitFor((c) => c.route === '/channels/1462000000000000010/typing', 10_000, 'waiting typing');
      expect(app.engine.backlog().waiting).toBe(1);
      expect(discord.posts('1462000000000000010')).toHaveLength(0);
      release();
      await discord.rest.waitFor((c) => c.method === 'POST' && c.route === '/channels/1462000000000000010/messages', 15_000, 'second answered');
      expect(discord.visible('1462000000000000010').join('\n')).toContain('second answer');
    } finally {
      release();
      await app.stop(1_000);
      await discord.stop();
    }
  });

  it('the gate lets one indicator per channel through per interval, and remembers a bounded number of channels', () => {
    const gate = new PerKeyGate(8_000, 3);
    expect(gate.pass('C1', 0)).toBe(true);
    expect(gate.pass('C1', 7_999)).toBe(false);
    expect(gate.pass('C2', 1)).toBe(true);
    expect(gate.pass('C1', 8_000)).toBe(true);
    for (const c of ['C3', 'C4', 'C5']) gate.pass(c, 9_000);
    expect(gate.pass('C1', 9_001)).toBe(true); // forgotten past the bound: let through rather than held forever
  });
});
