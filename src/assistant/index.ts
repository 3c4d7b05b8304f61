export { AssistantClient, messageText, type StreamHooks, type WaitOptions } from './client.js';
export { AssistantApiError } from './errors.js';
export { deltaText, parseEventStream } from './sse.js';
export type * from './types.js';
export { TERMINAL_RUN_STATUSES } from './types.js';
