import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ToolRegistry } from '../../src/engine/tools/registry.js';
import { getCurrentTime } from '../../src/engine/tools/builtin.js';
import { LocalStore, RedisStore, type Store } from '../../src/store/index.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeImageHost, PNG } from '../fakes/image-server.js';
import { RecordingPlatform, textOf } from '../fakes/recording-sink.js';
import { REDIS_URL, once, tempDir, uniquePrefix } from '../helpers.js';
import { inbound, makeEngine } from './harness.js';

let fake: FakeDashScope;
let store: Store;
const stores: Store[] = [];

beforeAll(async () => {
  fake = await new FakeDashScope().start();
});
afterAll(() => fake.stop());
beforeEach(async () => {
  fake.faults = [];
  fake.model = ({ newUserMessages }) => ({ text: [`You said: `, newUserMessages.join(' | ')] });
  // The engine's behaviour does not depend on the store: the memory store serves these tests.
  // Tests about several instances, locks and recovery across processes open Redis themselves.
  store = new LocalStore();
  stores.push(store);
});
/** A Redis store under `prefix`, closed after the test. */
async function openRedis(prefix: string): Promise<Store> {
  const s = await RedisStore.connect({ url: REDIS_URL, prefix });
  stores.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

describe.each(['memory', 'redis'] as const)('a turn [%s store]', (kind) => {
  beforeEach(async () => {
    if (kind === 'redis') store = await openRedis(uniquePrefix('engine'));
  });

  it('adds the message with its author, runs with streaming and the tools, and replies once', async () => {
    const { engine, platform, assistant } = await makeEngine(fake, store);
    const m = inbound(platform, { channel: 'CT1', text: 'What is up?' });
    await engine.receive(m);
    await engine.idle();
    const endings = platform.endings('CT1');
    expect(endings).toHaveLength(1);
    expect(textOf(endings[0])).toBe('You said: Ada Lovelace: What is up?');
    const create = fake.messageCreates().at(-1)!;
    expect(create.body).toMatchObject({ role: 'user', content: 'Ada Lovelace: What is up?', metadata: { author_id: 'U1' } });
    const run = fake.runCreates().at(-1)!;
    expect(run.body.stream).toBe(true);
    expect(run.body.assistant_id).toBe(assistant.id);
    expect(run.body.tools.map((t: { type: string; function?: { name: string } }) => t.function?.name ?? t.type)).toEqual(['text_to_image', 'get_current_time']);
    const kinds = platform.log.filter((e) => e.target.channel === 'CT1').map((e) => e.type);
    expect(kinds[0]).toBe('status');
    expect(kinds).toContain('text');
    expect(kinds.at(-1)).toBe('finish');
  });

  it('keeps one Assistant thread per conversation and a new one after reset', async () => {
    const { engine, platform } = await makeEngine(fake, store);
    await engine.receive(inbound(platform, { channel: 'CR1' }));
    await engine.idle();
    const first = (await engine.conversations.get('slack:T1:CR1:1.0'))!.state.threadId as string;
    await engine.receive(inbound(platform, { channel: 'CR1' }));
    await engine.idle();
    expect((await engine.conversations.get('slack:T1:CR1:1.0'))!.state.threadId as string).toBe(first);
    await engine.receive(inbound(platform, { channel: 'CR1', text: 'reset' }));
    expect(textOf(platform.log.calls.at(-1))).toMatch(/Starting fresh/);
    await engine.receive(inbound(platform, { channel: 'CR1' }));
    await engine.idle();
    const second = (await engine.conversations.get('slack:T1:CR1:1.0'))!.state.threadId as string;
    expect(second).not.toBe(first);
  });

  it('starts a new thread after the idle reset', async () => {
    const { engine, platform } = await makeEngine(fake, store, { options: { idleResetMs: 60_000 } });
    await engine.receive(inbound(platform, { channel: 'CI1' }));
    await engine.idle();
    const rec = (await engine.conversations.get('slack:T1:CI1:1.0'))!;
    rec.lastActivity -= 120_000;
    await engine.conversations.save(rec);
    await engine.receive(inbound(platform, { channel: 'CI1' }));
    await engine.idle();
    expect((await engine.conversations.get('slack:T1:CI1:1.0'))!.state.threadId as string).not.toBe(rec.state.threadId as string);
  });

  it('drops a repeated event id: one reply, not two', async () => {
    const { engine, platform } = await makeEngine(fake, store);
    const m = inbound(platform, { channel: 'CD1' });
    await Promise.all([engine.receive(m), engine.receive({ ...m }), engine.receive({ ...m })]);
    await engine.idle();
    expect(platform.endings('CD1')).toHaveLength(1);
  });

  it('answers commands without a run: help lists commands and tools; notes is not available yet', async () => {
    const { engine, platform } = await makeEngine(fake, store);
    const runs = fake.runCreates().length;
    await engine.receive(inbound(platform, { channel: 'CH1', text: 'help' }));
    expect(textOf(platform.log.calls.at(-1))).toMatch(/reset[\s\S]*stop[\s\S]*notes start[\s\S]*draw images[\s\S]*get_current_time/);
    await engine.receive(inbound(platform, { channel: 'CH1', text: 'notes start Weekly' }));
    expect(textOf(platform.log.calls.at(-1))).toMatch(/not available yet/);
    expect(fake.runCreates().length).toBe(runs);
  });

  it('cuts a 100,000-character message with a notice', async () => {
    const { engine, platform } = await makeEngine(fake, store);
    await engine.receive(inbound(platform, { channel: 'CL1', text: 'x'.repeat(100_000), group: false }));
    await engine.idle();
    const sent = fake.messageCreates().at(-1)!.body.content as string;
    expect(sent.length).toBeLessThan(13_000);
    expect(sent).toMatch(/message cut/);
    expect(platform.log.filter((e) => e.type === 'notice' && e.target.channel === 'CL1')[0]).toBeTruthy();
    expect(platform.endings('CL1')).toHaveLength(1);
  });
});

describe('function tools', () => {
  it('runs requested functions, submits every output (errors included) and goes on', async () => {
    const registry = new ToolRegistry().register(getCurrentTime).register({
      name: 'explode',
      description: 'always fails',
      parameters: { type: 'object' },
      handler: () => {
        throw new Error('kaboom');
      },
    });
    fake.model = ({ round, toolOutputs }) =>
      round === 0
        ? {
            toolCalls: [
              { name: 'get_current_time', arguments: { timezone: 'Asia/Shanghai' } },
              { name: 'explode', arguments: {} },
              { name: 'nope', arguments: '{' },
            ],
          }
        : { text: `outputs: ${toolOutputs.map((o) => o.output).join(' ;; ')}` };
    const { engine, platform } = await makeEngine(fake, store, { registry });
    await engine.receive(inbound(platform, { channel: 'CF1', text: 'time?' }));
    await engine.idle();
    const reply = textOf(platform.endings('CF1')[0]);
    expect(reply).toMatch(/"timezone":"Asia\/Shanghai"/);
    expect(reply).toMatch(/explode failed; the details are in the operator's log/); // not the error's own text (issue 19)
    expect(reply).not.toMatch(/kaboom/);
    expect(reply).toMatch(/unknown function nope/);
    const submit = fake.log.filter((c) => c.path.endsWith('/submit_tool_outputs')).at(-1)!;
    expect(submit.body.tool_outputs).toHaveLength(3);
    expect(submit.body.stream).toBe(true);
    expect(platform.log.filter((e) => e.type === 'status' && e.target.channel === 'CF1').map((e) => (e.type === 'status' && e.status.kind === 'tool' ? e.status.name : 'thinking'))).toContain(
      'get_current_time',
    );
  });

  it('caps the number of tool rounds and tells the user', async () => {
    fake.model = () => ({ toolCalls: [{ name: 'get_current_time', arguments: {} }] });
    const { engine, platform } = await makeEngine(fake, store);
    await engine.receive(inbound(platform, { channel: 'CF2' }));
    await engine.idle();
    expect(platform.endings('CF2')[0]).toMatchObject({ type: 'fail' });
    expect(textOf(platform.endings('CF2')[0])).toMatch(/stuck calling tools/);
  });

  it('shows code interpreter steps', async () => {
    fake.model = () => ({ codeInterpreter: { input: 'print(6*7)', output: '42' }, text: 'It is 42.' });
    const { engine, platform } = await makeEngine(fake, store);
    await engine.receive(inbound(platform, { channel: 'CC1' }));
    await engine.idle();
    expect(platform.log.filter((e) => e.type === 'code')[0]).toMatchObject({ step: { input: 'print(6*7)', output: '42' } });
  });
});

describe('images in replies', () => {
  it('downloads the generated image and hands its bytes to the sink', async () => {
    const images = await new FakeImageHost().start();
    try {
      fake.model = () => ({ text: `Here is your cat ![a cat](${images.url}/result/cat.png)` });
      const { engine, platform } = await makeEngine(fake, store, { imageHosts: [images.host] });
      await engine.receive(inbound(platform, { channel: 'CM1' }));
      await engine.idle();
      const end = platform.endings('CM1')[0];
      expect(end.type).toBe('finish');
      if (end.type !== 'finish') return;
      expect(end.reply.text).toBe('Here is your cat _(image: a cat)_');
      expect(Buffer.from(end.reply.images[0].bytes).equals(PNG)).toBe(true);
    } finally {
      await images.stop();
    }
  });
});

describe('one active run per Assistant thread', () => {
  it('queues messages that arrive mid-run and answers them together, in order, with zero overlapping runs', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let call = 0;
    fake.model = ({ newUserMessages }) => (call++ === 0 ? { text: `first: ${newUserMessages.join(',')}`, until: gate } : { text: `batch: ${newUserMessages.join(',')}` });
    const overlaps = fake.overlapAttempts;
    const { engine, platform } = await makeEngine(fake, store);
    const started = once(engine, 'run-started');
    const first = inbound(platform, { channel: 'CQ1', text: 'one', group: false });
    await engine.receive(first);
    await started;
    for (const t of ['two', 'three', 'four']) await engine.receive(inbound(platform, { channel: 'CQ1', text: t, group: false }));
    const key = first.key;
    expect(await engine.conversations.inFlight()).toContain(key);
    release();
    await engine.idle();
    const endings = platform.endings('CQ1').map(textOf);
    expect(endings).toEqual(['first: one', 'batch: two,three,four']);
    // the turn that found nothing more queued took the conversation out of the in-flight set: a restart has nothing to look at
    expect(await engine.conversations.inFlight()).not.toContain(key);
    expect(fake.overlapAttempts).toBe(overlaps);
    expect(fake.maxConcurrentRunsPerThread).toBe(1);
  });

  it('[redis] holds the Redis lock past its TTL while a long run streams, so a second instance waits', async () => {
    let n = 0;
    // the first run takes 600 ms at the fake: four lock TTLs of 150 ms
    fake.model = ({ newUserMessages }) => (n++ === 0 ? { text: [newUserMessages.join(',')], delayMs: 300 } : { text: `later: ${newUserMessages.join(',')}` });
    const prefix = uniquePrefix('two');
    const [s1, s2] = [await openRedis(prefix), await openRedis(prefix)];
    const platform = new RecordingPlatform();
    const a = await makeEngine(fake, s1, { platform, options: { lockTtlMs: 150 } });
    const b = await makeEngine(fake, s2, { platform, options: { lockTtlMs: 150 } });
    const overlaps = fake.overlapAttempts;
    const started = once(a.engine, 'run-started');
    await a.engine.receive(inbound(platform, { channel: 'CW1', text: 'a', group: false }));
    await started;
    await b.engine.receive(inbound(platform, { channel: 'CW1', text: 'b', group: false }));
    await Promise.all([a.engine.idle(), b.engine.idle()]);
    expect(platform.endings('CW1').map(textOf)).toEqual(['a', 'later: b']);
    expect(fake.overlapAttempts).toBe(overlaps);
    const runs = fake.runCreates().slice(-2);
    expect(runs[1].at - runs[0].at).toBeGreaterThanOrEqual(550);
  });

  it('stop cancels the active run and says so', async () => {
    fake.model = () => ({ text: ['partial ', 'never'], delayMs: 20, hang: true });
    const { engine, platform } = await makeEngine(fake, store);
    const started = once<{ key: string; runId: string }>(engine, 'run-started');
    await engine.receive(inbound(platform, { channel: 'CS1' }));
    const { runId } = await started;
    // the run is on record before anyone can stop it (a stop from another instance finds it there)
    expect((await engine.conversations.get('slack:T1:CS1:1.0'))?.activeRunId).toBe(runId);
    await platform.log.waitFor((e) => e.type === 'status' && e.target.channel === 'CS1');
    await engine.receive(inbound(platform, { channel: 'CS1', text: 'stop' }));
    await engine.idle();
    expect(platform.log.filter((e) => e.type === 'notice' && e.target.channel === 'CS1').map(textOf)).toContain('Stopped.');
    expect(textOf(platform.endings('CS1')[0])).toMatch(/stopped/);
    const rec = await engine.conversations.get('slack:T1:CS1:1.0');
    expect(rec?.activeRunId).toBeUndefined();
    expect(fake.log.filter((c) => c.path.endsWith('/cancel')).length).toBeGreaterThan(0);
  });
});

describe('stop before the run has an id', () => {
  it('cancels the run DashScope made anyway, so the next message is answered without overlapping it', async () => {
    let release!: () => void;
    fake.holdRunCreated = new Promise<void>((r) => (release = r));
    let n = 0;
    fake.model = ({ newUserMessages }) => (n++ === 0 ? { text: 'never shown', hang: true } : { text: `next: ${newUserMessages.join(',')}` });
    try {
      const { engine, platform } = await makeEngine(fake, store);
      const runs = fake.runCreates().length;
      await engine.receive(inbound(platform, { channel: 'CB1', text: 'first', group: false }));
      await fake.log.waitFor((c) => c.method === 'POST' && c.path.endsWith('/runs') && fake.runCreates().length > runs);
      await engine.receive(inbound(platform, { channel: 'CB1', text: 'stop' }));
      await platform.log.waitFor((e) => e.type === 'finish' && e.target.channel === 'CB1');
      const rec = (await engine.conversations.get('slack:T1:CB1:1.0'))!;
      expect(rec.abandoned).toBe(true);
      expect(rec.turn).toBeDefined();
      release();
      fake.holdRunCreated = undefined;
      const overlaps = fake.overlapAttempts;
      await engine.receive(inbound(platform, { channel: 'CB1', text: 'second', group: false }));
      await engine.idle();
      expect(fake.overlapAttempts).toBe(overlaps);
      expect(fake.log.filter((c) => c.path.endsWith('/cancel')).length).toBeGreaterThan(0);
      const texts = platform.endings('CB1').map(textOf);
      expect(texts).toEqual(['_(stopped)_', 'next: second']);
      expect((await engine.conversations.get('slack:T1:CB1:1.0'))!.abandoned).toBeUndefined();
    } finally {
      release();
      fake.holdRunCreated = undefined;
    }
  });
});

describe('stop where the cancel endpoint does not exist', () => {
  it("stops streaming, drops the run's output, and the next message waits for that run instead of overlapping it", async () => {
    fake.cancelSupported = false;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let n = 0;
    fake.model = ({ newUserMessages }) => (n++ === 0 ? { text: ['partial ', 'never shown'], until: gate } : { text: `next: ${newUserMessages.join(',')}` });
    try {
      const { engine, platform } = await makeEngine(fake, store);
      const started = once(engine, 'run-started');
      await engine.receive(inbound(platform, { channel: 'CN1', text: 'first', group: false }));
      await started;
      await engine.receive(inbound(platform, { channel: 'CN1', text: 'stop' }));
      await engine.idle();
      expect(textOf(platform.endings('CN1')[0])).toMatch(/stopped/);
      const rec = (await engine.conversations.get('slack:T1:CN1:1.0'))!;
      expect(rec.abandoned).toBe(true);
      const overlaps = fake.overlapAttempts;
      await engine.receive(inbound(platform, { channel: 'CN1', text: 'second', group: false }));
      release(); // the abandoned run finishes at DashScope; only then can the next one start
      await engine.idle();
      expect(fake.overlapAttempts).toBe(overlaps);
      const texts = platform.endings('CN1').map(textOf);
      expect(texts).toHaveLength(2);
      expect(texts[1]).toBe('next: second');
      expect(texts.join()).not.toContain('never shown');
    } finally {
      fake.cancelSupported = true;
    }
  });
});

describe('recovery', () => {
  it('[redis] finishes a run left in flight by a process that went away and delivers the reply to the stored target', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    fake.model = () => ({ text: 'the late answer', until: gate });
    const prefix = uniquePrefix('recover');
    const s1 = await openRedis(prefix);
    const first = await makeEngine(fake, s1);
    const started = once(first.engine, 'run-started');
    await first.engine.receive(inbound(first.platform, { channel: 'CX1' }));
    await started;
    // the process goes away mid-run without answering
    await first.engine.drain(0);
    expect(first.platform.endings('CX1')).toHaveLength(0);
    const rec = await first.engine.conversations.get('slack:T1:CX1:1.0');
    expect(rec?.activeRunId).toBeTruthy();

    const s2 = await openRedis(prefix);
    const second = await makeEngine(fake, s2);
    expect(await second.engine.recover()).toBe(1);
    release();
    await second.engine.idle();
    expect(second.platform.endings('CX1').map(textOf)).toEqual(['the late answer']);
    expect((await second.engine.conversations.get('slack:T1:CX1:1.0'))?.state.threadId as string).toBe(rec!.state.threadId);
    expect(await second.engine.conversations.inFlight()).not.toContain('slack:T1:CX1:1.0');
  });

  it('[redis] reports an interrupted run that failed meanwhile', async () => {
    fake.model = () => ({ hang: true });
    const prefix = uniquePrefix('interrupted');
    const s1 = await openRedis(prefix);
    const first = await makeEngine(fake, s1);
    const started = once(first.engine, 'run-started');
    await first.engine.receive(inbound(first.platform, { channel: 'CX2' }));
    await started;
    await first.engine.drain(0);
    const rec = (await first.engine.conversations.get('slack:T1:CX2:1.0'))!;
    await first.api.runs.cancel(rec.state.threadId as string, rec.activeRunId!);
    const second = await makeEngine(fake, s1);
    await second.engine.recover();
    await second.engine.idle();
    expect(textOf(second.platform.endings('CX2')[0])).toMatch(/interrupted/);
  });
});

describe('errors for people', () => {
  it('a rate-limited run create becomes a short message, with retries first', async () => {
    fake.faults.push({ kind: '429', retryAfter: 0, times: 10, match: (m, p) => m === 'POST' && p.endsWith('/runs') });
    const { engine, platform } = await makeEngine(fake, store);
    await engine.receive(inbound(platform, { channel: 'CE1' }));
    await engine.idle();
    expect(platform.endings('CE1')[0]).toMatchObject({ type: 'fail' });
    expect(textOf(platform.endings('CE1')[0])).toMatch(/too many requests/);
    fake.faults = [];
  });

  it('a failed run with DataInspectionFailed says it cannot answer', async () => {
    fake.model = () => ({ fail: { code: 'DataInspectionFailed', message: 'Input data may contain inappropriate content.' } });
    const { engine, platform } = await makeEngine(fake, store);
    await engine.receive(inbound(platform, { channel: 'CE2' }));
    await engine.idle();
    expect(textOf(platform.endings('CE2')[0])).toMatch(/can't answer that/);
  });

  it('a stream cut mid-way is followed by polling: the whole answer still arrives', async () => {
    fake.model = () => ({ text: ['Hello ', 'there ', 'friend'] });
    fake.faults.push({ kind: 'cut-stream', afterDeltas: 1 });
    const { engine, platform } = await makeEngine(fake, store);
    await engine.receive(inbound(platform, { channel: 'CE3' }));
    await engine.idle();
    expect(platform.endings('CE3').map(textOf)).toEqual(['Hello there friend']);
  });

  it('a run that never finishes hits the deadline, is cancelled, and the user is told', async () => {
    fake.model = () => ({ hang: true });
    const { engine, platform } = await makeEngine(fake, store, { options: { runTimeoutMs: 300 } });
    await engine.receive(inbound(platform, { channel: 'CE4' }));
    await engine.idle();
    expect(textOf(platform.endings('CE4')[0])).toMatch(/took too long/);
    expect(fake.log.filter((c) => c.path.endsWith('/cancel')).length).toBeGreaterThan(0);
  });
});

describe('assistant bootstrap', () => {
  it('creates the assistant once, finds it again, and updates it when the configuration changes', async () => {
    const settings = { name: `Boot ${Date.now()}`, model: 'qwen-plus', instructions: 'one', tools: ['text_to_image', 'my_plugin'], pluginTokens: { my_plugin: 'secret-user-token' } };
    const a = await makeEngine(fake, store, { settings });
    expect(a.assistant.action).toBe('created');
    const b = await makeEngine(fake, store, { settings });
    expect(b.assistant).toMatchObject({ id: a.assistant.id, action: 'found' });
    const c = await makeEngine(fake, store, { settings: { ...settings, instructions: 'two' } });
    expect(c.assistant).toMatchObject({ id: a.assistant.id, action: 'updated' });
    expect(fake.assistants.get(a.assistant.id).instructions).toBe('two');
    expect(fake.assistants.get(a.assistant.id).tools).toEqual([{ type: 'text_to_image' }, { type: 'my_plugin' }]);
    const d = await makeEngine(fake, store, { settings: { ...settings, id: a.assistant.id } });
    expect(d.assistant.action).toBe('retrieved');
    // plug-in auth goes with each run, never onto the assistant
    await d.engine.receive(inbound(d.platform, { channel: 'CB1' }));
    await d.engine.idle();
    expect(fake.runCreates().at(-1)!.body.tools).toContainEqual({ type: 'my_plugin', auth: { type: 'user_http', user_token: 'secret-user-token' } });
    expect(JSON.stringify(fake.assistants.get(a.assistant.id))).not.toContain('secret-user-token');
  });

  it('[redis] two instances starting together make one assistant', async () => {
    const settings = { name: `Race ${Date.now()}`, model: 'qwen-plus', instructions: 'x', tools: [], pluginTokens: {} };
    const prefix = uniquePrefix('race');
    const [x, y] = await Promise.all([makeEngine(fake, await openRedis(prefix), { settings }), makeEngine(fake, await openRedis(prefix), { settings })]);
    expect(x.assistant.id).toBe(y.assistant.id);
  });
});

describe('embedded file store', () => {
  it('keeps conversations across a restart', async () => {
    const file = join(tempDir(), 'threadline.jsonl');
    const s1 = new LocalStore({ file });
    const a = await makeEngine(fake, s1);
    await a.engine.receive(inbound(a.platform, { channel: 'CP1' }));
    await a.engine.idle();
    const threadId = (await a.engine.conversations.get('slack:T1:CP1:1.0'))!.state.threadId as string;
    await s1.close();
    const s2 = new LocalStore({ file });
    stores.push(s2);
    const b = await makeEngine(fake, s2);
    await b.engine.receive(inbound(b.platform, { channel: 'CP1' }));
    await b.engine.idle();
    expect((await b.engine.conversations.get('slack:T1:CP1:1.0'))!.state.threadId as string).toBe(threadId);
    expect(fake.messageCreates(threadId)).toHaveLength(2);
  });
});
