import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AssistantApiError, AssistantClient, deltaText, messageText, type StreamEvent } from '../../src/assistant/index.js';
import { createServer } from 'node:http';
import { closeServer, listenLocal } from '../fakes/call-log.js';
import { FakeDashScope } from '../fakes/dashscope.js';

let fake: FakeDashScope;
let api: AssistantClient;

beforeAll(async () => {
  fake = await new FakeDashScope().start();
});
afterAll(() => fake.stop());
beforeEach(() => {
  fake.faults = [];
  api = new AssistantClient({ baseUrl: fake.url, apiKey: fake.apiKey, userAgent: 'threadline/test', backoffBaseMs: 5, backoffMaxMs: 20, timeoutMs: 3_000 });
});

async function collect(it: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const ev of it) out.push(ev);
  return out;
}

describe('assistants', () => {
  it('creates, lists, retrieves, updates by POST and deletes', async () => {
    const a = await api.assistants.create({ model: 'qwen-plus', name: 'T1', instructions: 'hi', tools: [{ type: 'text_to_image' }], metadata: { tag: 'x' } });
    expect(a.id).toMatch(/^asst_/);
    expect(a.request_id).toBeTruthy();
    const createCall = fake.log.calls.at(-1)!;
    expect(createCall.body).toMatchObject({ model: 'qwen-plus', file_ids: [], metadata: { tag: 'x' } });
    expect(createCall.headers['user-agent']).toBe('threadline/test');
    expect((await api.assistants.retrieve(a.id)).name).toBe('T1');
    const updated = await api.assistants.update(a.id, { instructions: 'new' });
    expect(updated.instructions).toBe('new');
    expect(fake.log.calls.at(-1)!.method).toBe('POST');
    const list = await api.assistants.list({ limit: 10, order: 'desc' });
    expect(list.object).toBe('list');
    expect(list.data.map((x) => x.id)).toContain(a.id);
    expect(fake.log.calls.at(-1)!.query).toMatchObject({ limit: '10', order: 'desc' });
    const del = await api.assistants.delete(a.id);
    expect(del.deleted).toBe(true);
    await expect(api.assistants.retrieve(a.id)).rejects.toMatchObject({ status: 404, code: 'NotFound' });
  });

  it('pages through every assistant with after/has_more', async () => {
    for (let i = 0; i < 5; i++) await api.assistants.create({ model: 'qwen-plus', name: `page-${i}` });
    const all = await api.assistants.all(2);
    expect(all.filter((a) => a.name?.startsWith('page-'))).toHaveLength(5);
    expect(fake.log.calls.filter((c) => c.path === '/assistants' && c.method === 'GET' && c.query.after).length).toBeGreaterThan(0);
  });
});

describe('threads and messages', () => {
  it('covers create (with messages), retrieve, update, delete and message create/list/retrieve/update', async () => {
    const t = await api.threads.create({ messages: [{ content: 'first' }], metadata: { k: 'v' } });
    expect(t.id).toMatch(/^thread_/);
    expect((await api.threads.retrieve(t.id)).metadata).toEqual({ k: 'v' });
    expect((await api.threads.update(t.id, { k: 'w' })).metadata).toEqual({ k: 'w' });
    const m = await api.messages.create(t.id, { content: 'second', metadata: { user: 'U1' } });
    expect(m.id).toMatch(/^message_/);
    expect(fake.log.calls.at(-1)!.body).toEqual({ role: 'user', content: 'second', metadata: { user: 'U1' } });
    expect(m.assistant_id).toBe('');
    const page = await api.messages.list(t.id, { limit: 1, order: 'desc' });
    expect(page.data).toHaveLength(1);
    expect(messageText(page.data[0])).toBe('second');
    expect(page.has_more).toBe(true);
    const older = await api.messages.list(t.id, { order: 'desc', after: page.last_id });
    expect(messageText(older.data[0])).toBe('first');
    const before = await api.messages.list(t.id, { order: 'asc', before: m.id });
    expect(before.data.map(messageText)).toEqual(['first']);
    expect(messageText(await api.messages.retrieve(t.id, m.id))).toBe('second');
    expect((await api.messages.update(t.id, m.id, { seen: '1' })).metadata).toEqual({ seen: '1' });
    expect((await api.threads.delete(t.id)).deleted).toBe(true);
  });
});

describe('runs', () => {
  let assistantId: string;
  beforeAll(async () => {
    assistantId = (await api.assistants.create({ model: 'qwen-plus', name: 'runner' })).id;
  });

  it('streams a run: typed events, deltas concatenated, ends at done', async () => {
    fake.model = () => ({ text: ['Hel', 'lo'] });
    const t = await api.threads.create();
    await api.messages.create(t.id, { content: 'hi' });
    const events = await collect(api.runs.stream(t.id, { assistant_id: assistantId }));
    const names = events.map((e) => e.event);
    expect(names[0]).toBe('thread.run.created');
    expect(names.at(-1)).toBe('thread.run.completed');
    const text = events
      .filter((e) => e.event === 'thread.message.delta')
      .map((e) => deltaText(e.data as never))
      .join('');
    expect(text).toBe('Hello');
    expect(fake.log.calls.at(-1)!.body.stream).toBe(true);
  });

  it('create, retrieve, list, update, wait, steps list and retrieve', async () => {
    fake.model = () => ({ text: 'done', delayMs: 30 });
    const t = await api.threads.create({ messages: [{ content: 'x' }] });
    const run = await api.runs.create(t.id, { assistant_id: assistantId });
    expect(run.id).toMatch(/^run_/);
    const finished = await api.runs.wait(t.id, run.id, { intervalMs: 10 });
    expect(finished.status).toBe('completed');
    expect((await api.runs.retrieve(t.id, run.id)).status).toBe('completed');
    expect((await api.runs.list(t.id)).data.map((r) => r.id)).toContain(run.id);
    expect((await api.runs.update(t.id, run.id, { a: 'b' })).metadata).toEqual({ a: 'b' });
    const steps = await api.steps.list(t.id, run.id, { limit: 20, order: 'asc' });
    expect(steps.data[0].type).toBe('message_creation');
    expect((await api.steps.retrieve(t.id, run.id, steps.data[0].id)).id).toBe(steps.data[0].id);
  });

  it('thread-and-run in both modes', async () => {
    fake.model = ({ newUserMessages }) => ({ text: newUserMessages.join(',') });
    const run = await api.runs.createThreadAndRun({ assistant_id: assistantId, thread: { messages: [{ content: 'a' }] } });
    expect((await api.runs.wait(run.thread_id, run.id, { intervalMs: 5 })).status).toBe('completed');
    const events = await collect(api.runs.streamThreadAndRun({ assistant_id: assistantId, thread: { messages: [{ content: 'b' }] } }));
    expect(events.find((e) => e.event === 'thread.message.completed')).toBeTruthy();
  });

  it('wait returns at requires_action; submit_tool_outputs (plain and streaming) continues the run', async () => {
    fake.model = ({ round, toolOutputs }) => (round === 0 ? { toolCalls: [{ name: 'big_add', arguments: { left: 1, right: 2 } }] } : { text: `sum=${toolOutputs[0]?.output}` });
    const t = await api.threads.create({ messages: [{ content: 'add' }] });
    const run = await api.runs.create(t.id, { assistant_id: assistantId });
    const waiting = await api.runs.wait(t.id, run.id, { intervalMs: 5 });
    expect(waiting.status).toBe('requires_action');
    const call = waiting.required_action!.submit_tool_outputs.tool_calls[0];
    expect(JSON.parse(call.function.arguments)).toEqual({ left: 1, right: 2 });
    await api.runs.submitToolOutputs(t.id, run.id, [{ tool_call_id: call.id, output: '3' }]);
    expect((await api.runs.wait(t.id, run.id, { intervalMs: 5 })).status).toBe('completed');
    const last = (await api.messages.list(t.id, { order: 'desc', limit: 1 })).data[0];
    expect(messageText(last)).toBe('sum=3');

    const t2 = await api.threads.create({ messages: [{ content: 'add' }] });
    const ev1 = await collect(api.runs.stream(t2.id, { assistant_id: assistantId }));
    const req = ev1.at(-1)!;
    expect(req.event).toBe('thread.run.requires_action');
    const deltas = ev1.filter((e) => e.event === 'thread.run.step.delta');
    expect(deltas.length).toBe(2);
    const runId = (req.data as { id: string }).id;
    const ev2 = await collect(api.runs.submitToolOutputsStream(t2.id, runId, [{ output: '3' }]));
    expect(ev2.at(-1)!.event).toBe('thread.run.completed');
  });

  it('cancels a run that hangs; wait honours an AbortSignal and a timeout', async () => {
    fake.model = () => ({ hang: true });
    const t = await api.threads.create({ messages: [{ content: 'x' }] });
    const run = await api.runs.create(t.id, { assistant_id: assistantId });
    const ac = new AbortController();
    const pending = api.runs.wait(t.id, run.id, { signal: ac.signal, intervalMs: 5 });
    setImmediate(() => ac.abort());
    await expect(pending).rejects.toMatchObject({ code: 'Aborted' });
    await expect(api.runs.wait(t.id, run.id, { intervalMs: 5, timeoutMs: 30 })).rejects.toMatchObject({ code: 'Timeout' });
    expect((await api.runs.cancel(t.id, run.id)).status).toBe('cancelling');
    expect((await api.runs.wait(t.id, run.id, { intervalMs: 5 })).status).toBe('cancelled');
  });

  it('aborting a stream part-way ends its iteration and leaves the client usable', async () => {
    fake.model = () => ({ hang: true });
    const t = await api.threads.create({ messages: [{ content: 'x' }] });
    const ac = new AbortController();
    const seen: StreamEvent[] = [];
    const err = await (async () => {
      for await (const ev of api.runs.stream(t.id, { assistant_id: assistantId }, ac.signal)) {
        seen.push(ev);
        ac.abort();
      }
    })().catch((e) => e);
    expect(seen.map((e) => e.event)).toEqual(['thread.run.created']);
    expect(err).toBeInstanceOf(AssistantApiError);
    expect(err).toMatchObject({ code: 'Aborted', retryable: false });
    await api.runs.cancel(t.id, (seen[0].data as { id: string }).id);
    expect((await api.threads.retrieve(t.id)).id).toBe(t.id);
  });

  it('the fake refuses a second active run on a thread and counts it', async () => {
    fake.model = () => ({ hang: true });
    const t = await api.threads.create({ messages: [{ content: 'x' }] });
    const run = await api.runs.create(t.id, { assistant_id: assistantId });
    const before = fake.overlapAttempts;
    await expect(api.runs.create(t.id, { assistant_id: assistantId })).rejects.toMatchObject({ status: 400, code: 'InvalidParameter', retryable: false });
    expect(fake.overlapAttempts).toBe(before + 1);
    await api.runs.cancel(t.id, run.id);
  });

  it('turns a stream error event into an AssistantApiError and a cut body into StreamCut', async () => {
    fake.model = () => ({ text: ['a', 'b', 'c'] });
    const t = await api.threads.create({ messages: [{ content: 'x' }] });
    fake.faults.push({ kind: 'error-event' });
    await expect(collect(api.runs.stream(t.id, { assistant_id: assistantId }))).rejects.toMatchObject({ code: 'InternalError', status: 500 });
    // the run goes on at the fake; wait it out before the next run on this thread
    const firstRun = fake.runCreates().at(-1)!;
    void firstRun;
    const t2 = await api.threads.create({ messages: [{ content: 'x' }] });
    fake.faults.push({ kind: 'cut-stream', afterDeltas: 1 });
    const err = await collect(api.runs.stream(t2.id, { assistant_id: assistantId })).catch((e) => e);
    expect(err).toBeInstanceOf(AssistantApiError);
    expect(err).toMatchObject({ code: 'StreamCut', retryable: true });
  });
});

describe('files', () => {
  it('uploads multipart with a files part', async () => {
    const f = await api.files.upload({ bytes: new Uint8Array([1, 2, 3]), filename: 'a.txt', description: 'd' });
    expect(f.name).toBe('a.txt');
    expect([...fake.files.get(f.file_id)!.bytes]).toEqual([1, 2, 3]);
  });
});

describe('errors and retries', () => {
  it('maps error bodies: status, code, message, requestId', async () => {
    const bad = new AssistantClient({ baseUrl: fake.url, apiKey: 'sk-wrong', userAgent: 'threadline/test', maxRetries: 0 });
    const err = await bad.threads.create().catch((e) => e);
    expect(err).toBeInstanceOf(AssistantApiError);
    expect(err).toMatchObject({ status: 401, code: 'InvalidApiKey', retryable: false });
    expect(err.requestId).toBeTruthy();
    expect(JSON.stringify(err)).not.toContain('sk-wrong');
  });

  it('retries reads on 429 honouring Retry-After, and on 500 and connection resets', async () => {
    const t = await api.threads.create();
    fake.faults.push({ kind: '429', retryAfter: 0, match: (m) => m === 'GET' }, { kind: '500', match: (m) => m === 'GET' }, { kind: 'reset', match: (m) => m === 'GET' });
    const n = fake.log.calls.length;
    expect((await api.threads.retrieve(t.id)).id).toBe(t.id);
    expect(fake.log.calls.length - n).toBe(4);
  });

  it('retries a write refused with 429 but never a write that failed with 500', async () => {
    fake.faults.push({ kind: '429', retryAfter: 0, match: (m, p) => m === 'POST' && p === '/threads' });
    expect((await api.threads.create()).id).toMatch(/^thread_/);
    fake.faults.push({ kind: '500', match: (m, p) => m === 'POST' && p === '/threads' });
    const n = fake.log.calls.length;
    await expect(api.threads.create()).rejects.toMatchObject({ status: 500, retryable: true });
    expect(fake.log.calls.length - n).toBe(1);
  });

  it('gives up after maxRetries', async () => {
    const t = await api.threads.create();
    fake.faults.push({ kind: '503', match: (m) => m === 'GET', times: 10 });
    const n = fake.log.calls.length;
    await expect(api.threads.retrieve(t.id)).rejects.toMatchObject({ status: 503 });
    expect(fake.log.calls.length - n).toBe(4);
    fake.faults = [];
  });

  it('times out a request that does not answer', async () => {
    const slow = new AssistantClient({ baseUrl: 'http://127.0.0.1:9/api/v1', apiKey: 'k', userAgent: 'x', maxRetries: 1, backoffBaseMs: 1 });
    await expect(slow.threads.retrieve('thread_x')).rejects.toMatchObject({ status: 0, code: 'NetworkError' });
  });

  it('times out a request whose server takes the connection and never answers', async () => {
    const silent = createServer(() => {
      // never answers
    });
    const url = await listenLocal(silent);
    try {
      const slow = new AssistantClient({ baseUrl: `${url}/api/v1`, apiKey: 'k', userAgent: 'x', maxRetries: 0, timeoutMs: 50 });
      await expect(slow.threads.retrieve('thread_x')).rejects.toMatchObject({ status: 0, code: 'Timeout', retryable: true });
    } finally {
      silent.closeAllConnections();
      await closeServer(silent);
    }
  });

  it('sends the workspace header when configured', async () => {
    const ws = new AssistantClient({ baseUrl: fake.url, apiKey: fake.apiKey, userAgent: 'x', workspace: 'ws-1' });
    await ws.threads.create();
    expect(fake.log.calls.at(-1)!.headers['x-dashscope-workspace']).toBe('ws-1');
  });
});
