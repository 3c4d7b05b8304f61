import { AssistantClient } from '../../src/assistant/index.js';
import { AssistantBackend, ensureAssistant, type AssistantSettings } from '../../src/backends/assistant/index.js';
import { Engine, type EngineOptions } from '../../src/engine/engine.js';
import { ImageFetcher } from '../../src/engine/images.js';
import { getCurrentTime } from '../../src/engine/tools/builtin.js';
import { ToolRegistry } from '../../src/engine/tools/registry.js';
import type { Inbound, ReplyTarget } from '../../src/engine/types.js';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import type { Store } from '../../src/store/index.js';
import type { FakeDashScope } from '../fakes/dashscope.js';
import { RecordingPlatform } from '../fakes/recording-sink.js';

export const SETTINGS: AssistantSettings = { name: 'Threadline Test', model: 'qwen-plus', instructions: 'be brief', tools: ['text_to_image'], pluginTokens: {} };

export function apiFor(fake: FakeDashScope): AssistantClient {
  return new AssistantClient({ baseUrl: fake.url, apiKey: fake.apiKey, userAgent: 'threadline/test', backoffBaseMs: 5, backoffMaxMs: 20, timeoutMs: 5_000 });
}

export async function makeEngine(
  fake: FakeDashScope,
  store: Store,
  opts: { options?: EngineOptions; imageHosts?: string[]; registry?: ToolRegistry; platform?: RecordingPlatform; settings?: AssistantSettings } = {},
) {
  const api = apiFor(fake);
  const assistant = await ensureAssistant(api, store, opts.settings ?? SETTINGS);
  const registry = opts.registry ?? new ToolRegistry().register(getCurrentTime);
  const platform = opts.platform ?? new RecordingPlatform();
  const metrics = new Metrics();
  const backend = new AssistantBackend(api, assistant);
  const engine = new Engine({
    backend,
    store,
    registry,
    images: new ImageFetcher({ hosts: opts.imageHosts ?? ['*.aliyuncs.com'], timeoutMs: 2_000 }),
    platforms: { slack: platform },
    log: silentLogger,
    metrics,
    options: opts.options,
  });
  return { engine, api, assistant, backend, platform, registry, metrics };
}

let seq = 0;
/** An inbound Slack-like message for engine tests. */
export function inbound(platform: RecordingPlatform, over: Partial<Inbound> & { channel?: string } = {}): Inbound {
  const channel = over.channel ?? 'C1';
  const target: ReplyTarget = { platform: 'slack', channel, threadTs: '1.0' };
  const n = ++seq;
  return {
    key: `slack:T1:${channel}:1.0`,
    target,
    author: { id: 'U1', name: 'Ada Lovelace' },
    text: `hello ${n}`,
    kind: 'mention',
    eventId: `ev-${process.pid}-${Date.now()}-${n}`,
    group: true,
    channelKey: `slack:T1:${channel}`,
    at: Date.now(),
    sink: platform.sinkFor(target),
    ...over,
  };
}
