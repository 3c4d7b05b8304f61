import OpenAI from 'openai';
import { Transport } from '../assistant/http.js';
import { AssistantClient } from '../assistant/index.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import { AssistantBackend, ensureAssistant } from './assistant/index.js';
import type { ModelBackend } from './backend.js';
import { ImageSynthesis, ResponsesBackend, dashscopeFetch } from './responses/index.js';

export type { ModelBackend } from './backend.js';
export { BackendSlot } from './slot.js';
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
 * The backend DASHSCOPE_API names, ready to answer: one line per backend. Throws the backend's
 * ModelError when DashScope refuses or cannot be reached (the caller retries what is retryable).
 */
export async function createBackend(config: Config, deps: BackendDeps): Promise<ModelBackend> {
  switch (config.dashscope.api) {
    case 'assistant': {
      const api = assistantClient(config, deps);
      const assistant = await ensureAssistant(api, deps.store, config.assistant);
      deps.log.info({ backend: 'assistant', assistant: assistant.id, action: assistant.action, tools: assistant.toolTypes }, 'assistant ready');
      return new AssistantBackend(api, assistant, deps.log);
    }
    case 'responses': {
      const { apiKey, workspace } = config.dashscope;
      const client = new OpenAI({
        apiKey,
        baseURL: config.dashscope.compatibleUrl,
        fetch: dashscopeFetch,
        maxRetries: deps.testing?.responsesRetries ?? 2,
        defaultHeaders: { 'User-Agent': deps.userAgent, ...(workspace ? { 'X-DashScope-WorkSpace': workspace } : {}) },
      });
      const native = new Transport({ baseUrl: config.dashscope.baseUrl, apiKey, workspace, userAgent: deps.userAgent, onResponse: deps.onResponse });
      const images = new ImageSynthesis(native, { model: config.dashscope.imageModel, pollMs: deps.testing?.imagePollMs });
      if (config.assistant.id) deps.log.warn('ASSISTANT_ID names an Assistant API assistant: the Responses backend uses ASSISTANT_MODEL, ASSISTANT_INSTRUCTIONS and ASSISTANT_TOOLS instead');
      deps.log.info({ backend: 'responses', model: config.assistant.model, tools: config.assistant.tools, imageModel: images.model }, 'assistant ready');
      return new ResponsesBackend(
        client,
        { model: config.assistant.model, instructions: config.assistant.instructions, tools: config.assistant.tools, historyChars: config.dashscope.historyChars },
        { log: deps.log, images, assistantApi: assistantClient(config, deps) },
      );
    }
    default:
      throw new TypeError(`unknown DASHSCOPE_API ${String(config.dashscope.api)}`);
  }
}
