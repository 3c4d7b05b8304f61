import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AssistantBackend, ensureAssistant } from '../../src/backends/assistant/index.js';
import { Engine } from '../../src/engine/engine.js';
import { ImageFetcher } from '../../src/engine/images.js';
import { getCurrentTime } from '../../src/engine/tools/builtin.js';
import { ToolRegistry } from '../../src/engine/tools/registry.js';
import { LocalStore } from '../../src/store/index.js';
import { capturingLogger } from '../helpers.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { RecordingPlatform, textOf } from '../fakes/recording-sink.js';
import { apiFor, inbound } from '../engine/harness.js';

/** Issue 13, items 4 and 5: an existing assistant used as it is, and a tool DashScope refuses. */
let fake: FakeDashScope;
const { log, lines } = await capturingLogger();

beforeAll(async () => {
  fake = await new FakeDashScope().start();
});
afterAll(() => fake.stop());

async function engineFor(settings: Parameters<typeof ensureAssistant>[2]) {
  const api = apiFor(fake);
  const backend = new AssistantBackend(api, await ensureAssistant(api, new LocalStore(), settings));
  const platform = new RecordingPlatform();
  const engine = new Engine({ backend, store: new LocalStore(), registry: new ToolRegistry().register(getCurrentTime), images: new ImageFetcher({ hosts: [] }), platforms: { slack: platform }, log });
  return { engine, platform, api };
}

describe('ASSISTANT_ID: the assistant as it is', () => {
  it('sends its tools whole with ours added, and answers its function without a local handler with an error output and a log line', async () => {
    const api = apiFor(fake);
    const crm = { type: 'function', function: { name: 'crm_lookup', description: 'Look a customer up', parameters: { type: 'object', properties: { id: { type: 'string' } } } } };
    const plugin = { type: 'my_plugin', my_plugin: { region: 'cn' } };
    const existing = await api.assistants.create({ model: 'qwen-plus', name: 'Support', instructions: 'help', tools: [{ type: 'code_interpreter' }, plugin, crm] });
    const { engine, platform } = await engineFor({ id: existing.id, name: 'x', model: 'x', instructions: 'x', tools: [], pluginTokens: { my_plugin: 'tok-123' } });
    fake.model = ({ toolOutputs }) => (toolOutputs.length ? { text: `crm said ${toolOutputs[0].output}` } : { toolCalls: [{ name: 'crm_lookup', arguments: { id: '42' } }] });
    await engine.receive(inbound(platform, { channel: 'A1', text: 'who is 42?' }));
    await engine.idle();
    const run = fake.runCreates().at(-1)!;
    expect(run.body.tools).toEqual([
      { type: 'code_interpreter' },
      { ...plugin, auth: { type: 'user_http', user_token: 'tok-123' } },
      crm,
      expect.objectContaining({ type: 'function', function: expect.objectContaining({ name: 'get_current_time' }) }),
    ]);
    expect(textOf(platform.endings('A1')[0])).toMatch(/crm said .*unknown function crm_lookup/);
    expect(lines.find((l) => l.msg === 'the model called a function that has no local handler; answered with an error')).toMatchObject({ tool: 'crm_lookup', level: 'warn' });
    expect(JSON.stringify(lines)).not.toContain('tok-123');
  });
});

describe('a tool DashScope refuses', () => {
  it('tells the person in one short line and the operator which tool and what to do', async () => {
    const { engine, platform } = await engineFor({ name: 'Refusals', model: 'qwen-plus', instructions: 'x', tools: ['text_to_image'], pluginTokens: {} });
    // The exact wording of a refusal for an unapproved plug-in is not documented; a failed run naming the tool is assumed.
    fake.model = () => ({ fail: { code: 'InvalidParameter', message: 'Tool text_to_image is not activated for this account' } });
    await engine.receive(inbound(platform, { channel: 'A2', text: 'draw a cat' }));
    await engine.idle();
    expect(textOf(platform.endings('A2')[0])).toBe("I can't use one of my tools (text_to_image) right now. The operator can see why in the logs.");
    const line = lines.find((l) => l.msg === 'DashScope refused a tool');
    expect(line).toMatchObject({ level: 'error', tool: 'text_to_image' });
    expect(String(line!.fix)).toMatch(/Model Studio console/);
  });
});
