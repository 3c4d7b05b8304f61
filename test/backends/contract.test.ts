import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AssistantClient } from '../../src/assistant/index.js';
import { AssistantBackend, ensureAssistant } from '../../src/backends/assistant/index.js';
import type { ModelBackend } from '../../src/backends/backend.js';
import { ResponsesBackend, dashscopeFetch } from '../../src/backends/responses/index.js';
import { Engine } from '../../src/engine/engine.js';
import { ImageFetcher } from '../../src/engine/images.js';
import { getCurrentTime } from '../../src/engine/tools/builtin.js';
import { ToolRegistry } from '../../src/engine/tools/registry.js';
import { silentLogger } from '../../src/log.js';
import { LocalStore } from '../../src/store/index.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { RecordingPlatform, textOf } from '../fakes/recording-sink.js';
import { FakeResponses } from '../fakes/responses.js';
import { inbound } from '../engine/harness.js';

/**
 * One engine-level contract, run against both backends through their fakes: the engine must not
 * be able to tell them apart. Each rig turns a neutral "model" into its fake's own.
 */
interface Said {
  /** The person's messages new in this turn. */
  newUser: string[];
  /** Every person's message the model can see (its memory of the conversation). */
  allUser: string[];
  toolOutputs: string[];
}
interface Reply {
  text?: string;
  call?: { name: string; arguments: unknown };
  until?: Promise<unknown>;
}
interface Rig {
  name: string;
  backend(): Promise<ModelBackend>;
  model(fn: (s: Said) => Reply): void;
  stop(): Promise<void>;
}

const textOfContent = (m: any) => (typeof m.content === 'string' ? m.content : (m.content ?? []).map((c: any) => c.text?.value ?? c.text ?? '').join(''));

async function assistantRig(): Promise<Rig> {
  const fake = await new FakeDashScope().start();
  return {
    name: 'assistant',
    backend: async () => {
      const api = new AssistantClient({ baseUrl: fake.url, apiKey: fake.apiKey, userAgent: 'threadline/test', backoffBaseMs: 5, backoffMaxMs: 20 });
      return new AssistantBackend(api, await ensureAssistant(api, new LocalStore(), { name: 'Contract', model: 'qwen-plus', instructions: 'be brief', tools: [], pluginTokens: {} }));
    },
    model: (fn) => {
      fake.model = ({ thread, newUserMessages, toolOutputs }) => {
        const r = fn({ newUser: newUserMessages, allUser: thread.messages.filter((m) => m.role === 'user').map(textOfContent), toolOutputs: toolOutputs.map((o) => o.output) });
        return { text: r.text, until: r.until, toolCalls: r.call ? [r.call] : undefined };
      };
    },
    stop: () => fake.stop(),
  };
}

async function responsesRig(): Promise<Rig> {
  const fake = await new FakeResponses().start();
  return {
    name: 'responses',
    backend: async () =>
      new ResponsesBackend(
        new OpenAI({ apiKey: fake.apiKey, baseURL: fake.compatibleUrl, fetch: dashscopeFetch, maxRetries: 0 }),
        { model: 'qwen-plus', instructions: 'be brief', tools: [], historyChars: 60_000 },
        { log: silentLogger },
      ),
    model: (fn) => {
      fake.model = ({ context, newUserMessages, toolOutputs }) => {
        const r = fn({
          newUser: newUserMessages,
          allUser: context.filter((i) => (i.type ?? 'message') === 'message' && i.role === 'user').map(textOfContent),
          toolOutputs: toolOutputs.map((o) => o.output),
        });
        return { text: r.text, until: r.until, functionCalls: r.call ? [r.call] : undefined };
      };
    },
    stop: () => fake.stop(),
  };
}

describe.each([
  ['assistant', assistantRig],
  ['responses', responsesRig],
])('the engine on the %s backend', (_name, makeRig) => {
  let rig: Rig;
  let engine: Engine;
  let platform: RecordingPlatform;

  beforeAll(async () => {
    rig = await makeRig();
    platform = new RecordingPlatform();
    engine = new Engine({
      backend: await rig.backend(),
      store: new LocalStore(),
      registry: new ToolRegistry().register(getCurrentTime),
      images: new ImageFetcher({ hosts: [] }),
      platforms: { slack: platform },
      log: silentLogger,
    });
  });
  afterAll(() => rig.stop());

  it('answers a turn once, remembers it in the next, and keeps queued messages together', async () => {
    rig.model(({ newUser, allUser }) => ({ text: `new: ${newUser.join(' | ')}; seen: ${allUser.length}` }));
    await engine.receive(inbound(platform, { channel: 'K1', text: 'first' }));
    await engine.idle();
    await engine.receive(inbound(platform, { channel: 'K1', text: 'second' }));
    await engine.idle();
    const endings = platform.endings('K1').map(textOf);
    expect(endings).toEqual(['new: Ada Lovelace: first; seen: 1', 'new: Ada Lovelace: second; seen: 2']);
    // progress shows before the first word (the typing indicator, the 👀)
    expect(platform.log.filter((e) => e.target.channel === 'K1')[0]).toMatchObject({ type: 'status', status: { kind: 'thinking' } });
  });

  it('runs a local function the model calls and answers with its output', async () => {
    rig.model(({ toolOutputs }) =>
      toolOutputs.length ? { text: `the time is ${JSON.parse(toolOutputs[0]).timezone}` } : { call: { name: 'get_current_time', arguments: { timezone: 'Asia/Shanghai' } } },
    );
    await engine.receive(inbound(platform, { channel: 'K2', text: 'what time is it?' }));
    await engine.idle();
    expect(platform.endings('K2').map(textOf)).toEqual(['the time is Asia/Shanghai']);
    expect(platform.log.filter((e) => e.target.channel === 'K2' && e.type === 'status').map((e) => (e.type === 'status' ? e.status : undefined))).toContainEqual({
      kind: 'tool',
      name: 'get_current_time',
    });
  });

  it('answers a function without a local handler with an error output, not a crash', async () => {
    rig.model(({ toolOutputs }) => (toolOutputs.length ? { text: `tool said ${toolOutputs[0]}` } : { call: { name: 'not_here', arguments: {} } }));
    await engine.receive(inbound(platform, { channel: 'K3', text: 'use it' }));
    await engine.idle();
    expect(textOf(platform.endings('K3')[0])).toMatch(/tool said .*unknown function not_here/);
  });

  it('stops a turn in progress, and the next message is answered', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    rig.model(() => ({ text: 'too late', until: gate }));
    const m = inbound(platform, { channel: 'K4', text: 'take your time' });
    const running = engine.receive(m);
    await new Promise<void>((r) => engine.once('run-started', () => r()));
    expect(await engine.stop(m.key)).toBe(true);
    await running;
    await engine.idle();
    release();
    expect(textOf(platform.endings('K4')[0])).toBe('_(stopped)_');
    rig.model(({ newUser }) => ({ text: `after: ${newUser.join()}` }));
    await engine.receive(inbound(platform, { channel: 'K4', text: 'again' }));
    await engine.idle();
    expect(textOf(platform.endings('K4').at(-1))).toMatch(/^after: .*again/);
  });
});
