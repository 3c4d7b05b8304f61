import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { AssistantClient } from '../../src/assistant/index.js';
import { AssistantBackend } from '../../src/backends/assistant/index.js';
import { ResponsesBackend } from '../../src/backends/responses/index.js';
import { RoutedBackend } from '../../src/backends/routed.js';
import { silentLogger } from '../../src/log.js';

/** Issue 16 and 18 together: which files a conversation may share depends on its assistant's backend. Nothing is sent here. */
describe('a routed backend with an Assistant API assistant and a Responses one', () => {
  const api = new AssistantClient({ baseUrl: 'http://127.0.0.1:9/api/v1', apiKey: 'sk-unused', userAgent: 'test' });
  const assistant = new AssistantBackend(api, { id: 'asst_1', toolTypes: ['code_interpreter'], runTools: [], functions: [], action: 'found' });
  const responses = new ResponsesBackend(
    new OpenAI({ apiKey: 'sk-unused', baseURL: 'http://127.0.0.1:9/v1' }),
    { model: 'qwen-plus', instructions: 'x', tools: [], historyChars: 10_000 },
    { log: silentLogger },
  );
  const routed = new RoutedBackend(
    new Map([
      ['default', { backend: assistant }],
      ['light', { backend: responses }],
    ]),
    async () => 'default',
  );

  it('a PDF is refused for the Responses assistant only, and an image for neither', () => {
    expect(routed.acceptsFile('application/pdf', 'report.pdf', 'default')).toBeUndefined();
    expect(routed.acceptsFile('application/pdf', 'report.pdf', 'light')).toMatch(/reads text, data and images only/);
    expect(routed.acceptsFile('image/png', 'chart.png', 'light')).toBeUndefined();
    // not knowing the conversation, only what no assistant can read is refused
    expect(routed.acceptsFile('application/pdf', 'report.pdf')).toBeUndefined();
  });

  it('names what a conversation holds by its assistant, and hands each back to the backend that holds it', () => {
    const state = { backend: 'assistant', threadId: 't', fileIds: ['f1'], assistant: 'default' };
    expect(routed.resourcesOf(state)).toEqual(['default|file:f1']);
    expect(routed.assistantOf(state)).toBe('default');
    expect(routed.assistantOf({ backend: 'responses', history: [], assistant: 'gone' })).toBe('default'); // an assistant no longer in the file
  });
});
