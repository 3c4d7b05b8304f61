import { AssistantClient } from '../assistant/index.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import { AssistantBackend, ensureAssistant } from './assistant/index.js';
import type { ModelBackend } from './backend.js';

export type { ModelBackend } from './backend.js';
export { BackendSlot } from './slot.js';
export { ModelError } from './errors.js';

export interface BackendDeps {
  store: Store;
  log: Logger;
  userAgent: string;
  /** Seen for every DashScope response (metrics). */
  onResponse?: (r: { method: string; status: number; code?: string }) => void;
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
      return new AssistantBackend(api, assistant);
    }
    default:
      throw new TypeError(`unknown DASHSCOPE_API ${String(config.dashscope.api)}`);
  }
}
