import OpenAI from 'openai';
import { Transport } from '../assistant/http.js';
import { AssistantClient } from '../assistant/index.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import { AssistantBackend, ensureAssistant } from './assistant/index.js';
import type { ModelBackend } from './backend.js';
import { RoutedBackend, type NamedBackend } from './routed.js';
import { ImageSynthesis, ResponsesBackend, dashscopeFetch } from './responses/index.js';

export type { ModelBackend } from './backend.js';
export { BackendSlot } from './slot.js';
export { RoutedBackend } from './routed.js';
export { ModelError } from './errors.js';

export interface BackendDeps {
  store: Store;
  log: Logger;
  userAgent: string;
  /** Seen for every DashScope response (metrics). */
  onResponse?: (r: { method: string; status: number; code?: string }) => void;
  /** Test knobs: poll image tasks faster, retry the Responses API less. */
  testing?: { imagePollMs?: number; responsesRetries?: number };
}

/** The DashScope Assistant API client every backend can use (the Responses backend reads old threads with it when migrating). */
export function assistantClient(config: Config, deps: BackendDeps): AssistantClient {
  return new AssistantClient({ baseUrl: config.dashscope.baseUrl, apiKey: config.dashscope.apiKey, workspace: config.dashscope.workspace, userAgent: deps.userAgent, onResponse: deps.onResponse });
}

/**
 * The backend DASHSCOPE_API names, ready to answer: one line per backend; with ASSISTANTS_FILE,
 * one per named assistant behind a RoutedBackend (`choose` picks the assistant of a new
 * conversation). Throws the backend's ModelError when DashScope refuses or cannot be reached (the
 * caller retries what is retryable).
 */
export async function createBackend(config: Config, deps: BackendDeps, choose?: (key: string) => Promise<string>): Promise<ModelBackend> {
  if (!config.assistants) return createOne(config, { ...config.assistant, backend: config.dashscope.api, label: 'default' }, deps);
  const named = new Map<string, NamedBackend>();
  for (const e of Object.values(config.assistants.assistants)) {
    const backend = await createOne(
      config,
      { id: e.id, name: e.dashscopeName, model: e.model, instructions: e.instructions, tools: e.tools, pluginTokens: e.pluginTokens, backend: e.backend, label: e.name },
      deps,
    );
    named.set(e.name, { backend, ...(e.functions ? { functions: e.functions } : {}) });
  }
  return new RoutedBackend(named, choose ?? (async () => 'default'));
}

type OneAssistant = Config['assistant'] & { backend: 'assistant' | 'responses'; label: string };

async function createOne(config: Config, a: OneAssistant, deps: BackendDeps): Promise<ModelBackend> {
  switch (a.backend) {
    case 'assistant': {
      const api = assistantClient(config, deps);
      const assistant = await ensureAssistant(api, deps.store, a);
      deps.log.info({ backend: 'assistant', name: a.label, assistant: assistant.id, action: assistant.action, tools: assistant.toolTypes }, 'assistant ready');
      return new AssistantBackend(api, assistant, deps.log);
    }
    case 'responses': {
      const { apiKey, workspace } = config.dashscope;
      const client = new OpenAI({
        apiKey,
        baseURL: config.dashscope.compatibleUrl,
        // each answer is counted (metrics) and paces the engine (a 429 lowers its concurrency), as the Assistant API client's are
        fetch: async (url: string | URL | Request, init?: RequestInit) => {
          const res = await dashscopeFetch(url, init);
          deps.onResponse?.({ method: init?.method ?? 'GET', status: res.status });
          return res;
        },
        maxRetries: deps.testing?.responsesRetries ?? 2,
        defaultHeaders: { 'User-Agent': deps.userAgent, ...(workspace ? { 'X-DashScope-WorkSpace': workspace } : {}) },
      });
      const native = new Transport({ baseUrl: config.dashscope.baseUrl, apiKey, workspace, userAgent: deps.userAgent, onResponse: deps.onResponse });
      const images = new ImageSynthesis(native, { model: config.dashscope.imageModel, pollMs: deps.testing?.imagePollMs });
      if (a.id) deps.log.warn('ASSISTANT_ID names an Assistant API assistant: the Responses backend uses ASSISTANT_MODEL, ASSISTANT_INSTRUCTIONS and ASSISTANT_TOOLS instead');
      deps.log.info({ backend: 'responses', name: a.label, model: a.model, tools: a.tools, imageModel: images.model }, 'assistant ready');
      return new ResponsesBackend(
        client,
        { model: a.model, instructions: a.instructions, tools: a.tools, historyChars: config.dashscope.historyChars },
        { log: deps.log, images, assistantApi: assistantClient(config, deps) },
      );
    }
    default:
      throw new TypeError(`unknown backend ${String(a.backend)}`);
  }
}
