import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AssistantBackend, ensureAssistant } from '../../src/backends/assistant/index.js';
import { ResponsesBackend, dashscopeFetch } from '../../src/backends/responses/index.js';
import type { ModelBackend } from '../../src/backends/backend.js';
import { Engine } from '../../src/engine/engine.js';
import { ImageFetcher } from '../../src/engine/images.js';
import { ToolRegistry } from '../../src/engine/tools/registry.js';
import { silentLogger } from '../../src/log.js';
import { LocalStore } from '../../src/store/index.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { RecordingPlatform, textOf } from '../fakes/recording-sink.js';
import { FakeResponses } from '../fakes/responses.js';
import { apiFor, inbound } from '../engine/harness.js';

/** A running deployment moves from DASHSCOPE_API=assistant to responses (and back): conversations keep what can be kept. */
let ds: FakeDashScope;
let rs: FakeResponses;

beforeAll(async () => {
  [ds, rs] = await Promise.all([new FakeDashScope().start(), new FakeResponses().start()]);
});
afterAll(() => Promise.all([ds.stop(), rs.stop()]));

function engineOn(backend: ModelBackend, store: LocalStore, platform: RecordingPlatform): Engine {
  return new Engine({ backend, store, registry: new ToolRegistry(), images: new ImageFetcher({ hosts: [] }), platforms: { slack: platform }, log: silentLogger });
}

describe('moving a deployment between backends', () => {
  it('assistant → responses: the conversation goes on with the Assistant thread history; responses → assistant: it goes on in a new thread', async () => {
    const store = new LocalStore();
    const platform = new RecordingPlatform();
    const api = apiFor(ds);
    const assistant = new AssistantBackend(api, await ensureAssistant(api, store, { name: 'Move', model: 'qwen-plus', instructions: 'x', tools: [], pluginTokens: {} }));
    ds.model = () => ({ text: 'Nice to meet you, Ada.' });
    const before = engineOn(assistant, store, platform);
    await before.receive(inbound(platform, { channel: 'M1', text: 'my name is Ada' }));
    await before.idle();

    const responses = new ResponsesBackend(
      new OpenAI({ apiKey: rs.apiKey, baseURL: rs.compatibleUrl, fetch: dashscopeFetch, maxRetries: 0 }),
      { model: 'qwen-plus', instructions: 'x', tools: [], historyChars: 60_000 },
      { log: silentLogger, assistantApi: api },
    );
    rs.model = ({ context }) => ({ text: `I know: ${context.map((i) => (typeof i.content === 'string' ? i.content : i.content[0].text)).join(' / ')}` });
    const after = engineOn(responses, store, platform);
    await after.receive(inbound(platform, { channel: 'M1', text: 'what is my name?' }));
    await after.idle();
    expect(textOf(platform.endings('M1').at(-1))).toBe('I know: Ada Lovelace: my name is Ada / Nice to meet you, Ada. / Ada Lovelace: what is my name?');

    const threadsBefore = ds.threads.size;
    ds.model = ({ newUserMessages }) => ({ text: `fresh thread: ${newUserMessages.join()}` });
    const back = engineOn(assistant, store, platform);
    await back.receive(inbound(platform, { channel: 'M1', text: 'back again' }));
    await back.idle();
    expect(ds.threads.size).toBe(threadsBefore + 1);
    expect(textOf(platform.endings('M1').at(-1))).toBe('fresh thread: Ada Lovelace: back again');
  });
});
