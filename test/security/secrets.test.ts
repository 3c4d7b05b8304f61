import { Writable } from 'node:stream';
import { DiscordAPIError } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AssistantBackend, ensureAssistant } from '../../src/backends/assistant/index.js';
import { Engine } from '../../src/engine/engine.js';
import { ImageFetcher } from '../../src/engine/images.js';
import { ToolRegistry } from '../../src/engine/tools/registry.js';
import { createLogger, scrub, scrubDeep, serializeError } from '../../src/log.js';
import { LocalStore } from '../../src/store/index.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { RecordingPlatform, textOf } from '../fakes/recording-sink.js';
import { apiFor, inbound } from '../engine/harness.js';

/** Issue 19, finding 7: a secret never reaches the model, the chat or the log. */
let fake: FakeDashScope;
beforeAll(async () => {
  fake = await new FakeDashScope().start();
});
afterAll(() => fake.stop());

describe('secrets', () => {
  it("a tool's error carrying a key reaches the model as a generic line, and the log without the key", async () => {
    const lines: string[] = [];
    const log = createLogger('info', new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }));
    const registry = new ToolRegistry().register({
      name: 'weather',
      description: 'Weather',
      parameters: { type: 'object', properties: {} },
      handler: () => {
        throw new Error('GET https://api.weather.example/v1/now?city=x&api_key=abcd1234supersecret failed with 401 (Bearer tok_live_9999)');
      },
    });
    const api = apiFor(fake);
    const backend = new AssistantBackend(api, await ensureAssistant(api, new LocalStore(), { name: 'Secrets', model: 'qwen-plus', instructions: 'x', tools: [], pluginTokens: {} }));
    const platform = new RecordingPlatform();
    const engine = new Engine({ backend, store: new LocalStore(), registry, images: new ImageFetcher({ hosts: [] }), platforms: { slack: platform }, log });
    let seen = '';
    fake.model = ({ toolOutputs }) =>
      toolOutputs.length ? ((seen = toolOutputs[0].output), { text: `the tool said: ${toolOutputs[0].output}` }) : { toolCalls: [{ name: 'weather', arguments: {} }] };
    await engine.receive(inbound(platform, { channel: 'S1', text: 'weather?' }));
    await engine.idle();
    expect(seen).toBe(JSON.stringify({ error: "weather failed; the details are in the operator's log" }));
    expect(textOf(platform.endings('S1')[0])).not.toMatch(/abcd1234|tok_live/);
    const all = lines.join('');
    expect(all).toContain('a local tool failed');
    expect(all).toContain('api.weather.example'); // the operator still sees which call failed
    expect(all).not.toMatch(/abcd1234supersecret|tok_live_9999/);
  });

  it('a Discord error is logged with its code, status, method and route, without the interaction token or the message body', () => {
    const token = 'aW50ZXJhY3Rpb246MTQ2MDAwMDAwMDAwMDAwMDAwMTpzZWNyZXR0b2tlbg';
    const err = new DiscordAPIError({ message: 'Unknown interaction', code: 10062 }, 10062, 404, 'POST', `https://discord.com/api/v10/interactions/1460000000000000001/${token}/callback`, {
      body: { content: 'a private message body' },
    });
    const out = serializeError(err);
    expect(out).toMatchObject({ code: 10062, status: 404, method: 'POST', route: '/api/v10/interactions/1460000000000000001/[redacted]/callback' });
    expect(JSON.stringify(out)).not.toContain(token);
    expect(JSON.stringify(out)).not.toContain('a private message body');
  });

  it('scrubs tokens in nested fields, URL keys and signed URLs', () => {
    expect(scrubDeep({ a: { b: 'xoxb-1234-abcd', token: 'anything', list: ['sk-abcdefgh12345678'] } })).toEqual({ a: { b: '[redacted]', token: '[redacted]', list: ['[redacted]'] } });
    expect(scrub('https://x.oss-cn.aliyuncs.com/a.png?Expires=1&OSSAccessKeyId=LTAI5t&Signature=abc%3D')).toBe(
      'https://x.oss-cn.aliyuncs.com/a.png?Expires=1&OSSAccessKeyId=[redacted]&Signature=[redacted]',
    );
  });
});
