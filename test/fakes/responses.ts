import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { CallLog, closeServer, listenLocal, readBody, type Call } from './call-log.js';

/**
 * A fake of Model Studio's OpenAI-compatible Responses API and of DashScope image synthesis on
 * 127.0.0.1, following shared/reference/dashscope-responses-api.md (copied to docs/):
 *  - POST /compatible-mode/v1/responses, Bearer auth (401 InvalidApiKey, flat body);
 *  - flat error bodies `{request_id, code, message}`; 400 for chat-style nested function tools, for
 *    `previous_response_id` with `conversation`, and "Not found previous_response_id" for an id it
 *    never stored or has forgotten (`forget()`: the 7-day expiry, or another region);
 *  - SSE framed `id:N` / `event:<type>` / `:HTTP_STATUS/200` / `data:{…}`, no `[DONE]`; the stream
 *    ends at response.completed | response.incomplete | response.failed (HTTP 200 and then a failure);
 *  - stored responses rebuild the context of a chained request, the way the server replays them;
 *  - POST /api/v1/services/aigc/text2image/image-synthesis needs `X-DashScope-Async: enable`, then
 *    GET /api/v1/tasks/{id} answers RUNNING once and SUCCEEDED with the result URL.
 * Every other path is a 404 (so a test can prove the Assistant API is never called).
 */

export interface ResponsesModelInput {
  /** The whole context the model sees: the stored chain plus this request's input items. */
  context: any[];
  /** This request's own input items. */
  input: any[];
  instructions?: string;
  tools: any[];
  /** Text of the user messages in this request's input. */
  newUserMessages: string[];
  /** function_call_output items in this request's input. */
  toolOutputs: Array<{ call_id: string; output: string }>;
  body: any;
}

export interface ResponsesModelTurn {
  text?: string | string[];
  functionCalls?: Array<{ name: string; arguments: unknown }>;
  codeInterpreter?: { code: string; output: string };
  /** HTTP 200, then response.failed with this error. */
  fail?: { code: string; message: string };
  /** Hold the stream open until this settles (or the client goes away). */
  until?: Promise<unknown>;
  /** After the first text delta, wait for this. */
  holdAfterFirstDelta?: Promise<unknown>;
}

export type ResponsesModel = (input: ResponsesModelInput) => ResponsesModelTurn | Promise<ResponsesModelTurn>;

const rid = () => randomUUID();

export class FakeResponses {
  readonly log = new CallLog<Call>();
  readonly apiKey = 'sk-fake-responses-key';
  url = '';
  /** Where generated images live (a FakeImageHost URL); text_to_image results point there. */
  imageBase = 'http://127.0.0.1:9';
  model: ResponsesModel = ({ newUserMessages }) => ({ text: `You said: ${newUserMessages.join(' | ')}` });
  /** Refuse the next N requests to /responses with 429 (flat body, Retry-After: 0). */
  throttle = 0;
  private server?: Server;
  private readonly stored = new Map<string, { context: any[] }>();
  private readonly tasks = new Map<string, { prompt: string; polls: number }>();
  /** Streams that were open when the client went away (a stop). */
  aborted = 0;
  /** performance.now() when each response completed (benchmarks). */
  readonly completedHr = new Map<string, number>();

  get compatibleUrl(): string {
    return `${this.url}/compatible-mode/v1`;
  }

  get baseUrl(): string {
    return `${this.url}/api/v1`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        if (!res.headersSent) res.writeHead(500).end(String(err));
      });
    });
    this.url = await listenLocal(this.server);
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }

  /** The server forgets a stored response (7 days passed, or the key is used in another region). */
  forget(id?: string): void {
    if (id) this.stored.delete(id);
    else this.stored.clear();
  }

  /** Requests to /responses, in order. */
  creates(): Call[] {
    return this.log.filter((c) => c.method === 'POST' && c.path === '/compatible-mode/v1/responses');
  }

  private flat(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ request_id: rid(), code, message }));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const raw = await readBody(req);
    let body: any;
    try {
      body = raw.length ? JSON.parse(raw.toString()) : null;
    } catch {
      return this.flat(res, 400, 'InvalidParameter', 'body is not JSON');
    }
    const call: Call = { method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body, at: Date.now(), hr: performance.now() };
    this.log.record(call);
    if (req.headers.authorization !== `Bearer ${this.apiKey}`) return this.flat(res, 401, 'InvalidApiKey', 'No API-key provided.');
    if (call.method === 'POST' && url.pathname === '/compatible-mode/v1/responses') return this.responses(body, res);
    if (call.method === 'POST' && url.pathname === '/api/v1/services/aigc/text2image/image-synthesis') {
      if (req.headers['x-dashscope-async'] !== 'enable') return this.flat(res, 403, 'AccessDenied', 'current user api does not support synchronous calls');
      if (!body?.model || !body?.input?.prompt) return this.flat(res, 400, 'InvalidParameter', 'model and input.prompt are required');
      const id = rid();
      this.tasks.set(id, { prompt: String(body.input.prompt), polls: 0 });
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ request_id: rid(), output: { task_status: 'PENDING', task_id: id } }));
    }
    const task = /^\/api\/v1\/tasks\/([^/]+)$/.exec(url.pathname);
    if (call.method === 'GET' && task) {
      const t = this.tasks.get(task[1]);
      if (!t) return this.flat(res, 404, 'InvalidParameter', 'task not found');
      t.polls++;
      const done = t.polls > 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(
        JSON.stringify({
          request_id: rid(),
          output: done
            ? {
                task_id: task[1],
                task_status: 'SUCCEEDED',
                results: [{ url: `${this.imageBase}/gen/${task[1]}/cat.png?Expires=1&OSSAccessKeyId=x&Signature=y`, orig_prompt: t.prompt }],
                task_metrics: { TOTAL: 1, SUCCEEDED: 1, FAILED: 0 },
              }
            : { task_id: task[1], task_status: 'RUNNING' },
        }),
      );
    }
    this.flat(res, 404, 'Not Found', 'Not support');
  }

  private async responses(body: any, res: ServerResponse): Promise<void> {
    if (this.throttle > 0) {
      this.throttle--;
      return this.flat(res, 429, 'Throttling.RateQuota', 'Requests rate limit exceeded, please try again later.', { 'retry-after': '0' });
    }
    if (!body?.model) return this.flat(res, 400, 'InvalidParameter', 'model is required');
    if (body.previous_response_id && body.conversation) return this.flat(res, 400, 'InvalidParameter', 'previous_response_id and conversation cannot be used together');
    for (const t of body.tools ?? []) {
      if (t?.type === 'function' && (t.function || typeof t.name !== 'string'))
        return this.flat(res, 400, 'InvalidParameter', 'tools: a function tool needs name, description and parameters at the top level');
    }
    let context: any[] = [];
    if (body.previous_response_id) {
      const prev = this.stored.get(body.previous_response_id);
      if (!prev) return this.flat(res, 400, 'InvalidParameter', 'Not found previous_response_id');
      context = [...prev.context];
    }
    const input: any[] = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : (body.input ?? []);
    context.push(...input);
    const textOf = (m: any) => (typeof m.content === 'string' ? m.content : (m.content ?? []).map((c: any) => c.text ?? '').join(''));
    const newUserMessages = input.filter((i) => (i.type ?? 'message') === 'message' && i.role === 'user').map(textOf);
    const toolOutputs = input.filter((i) => i.type === 'function_call_output').map((i) => ({ call_id: i.call_id, output: i.output }));
    const turn = await this.model({ context, input, instructions: body.instructions, tools: body.tools ?? [], newUserMessages, toolOutputs, body });

    const id = `resp_${rid()}`;
    const output: any[] = [];
    if (turn.codeInterpreter)
      output.push({ type: 'code_interpreter_call', id: `ci_${rid()}`, status: 'completed', code: turn.codeInterpreter.code, outputs: [{ type: 'logs', logs: turn.codeInterpreter.output }] });
    const pieces = turn.text === undefined ? [] : Array.isArray(turn.text) ? turn.text : [turn.text];
    const text = pieces.join('');
    if (text) output.push({ type: 'message', id: `msg_${rid()}`, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] });
    for (const c of turn.functionCalls ?? [])
      output.push({
        type: 'function_call',
        id: `fc_${rid()}`,
        call_id: `call_${rid()}`,
        name: c.name,
        arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
        status: 'completed',
      });
    const response = (status: string, extra: Record<string, unknown> = {}) => ({
      id,
      object: 'response',
      created_at: Math.floor(Date.now() / 1000),
      model: body.model,
      status,
      output: status === 'in_progress' ? [] : output,
      error: null,
      usage: status === 'completed' ? { input_tokens: JSON.stringify(context).length >> 2, output_tokens: text.length >> 2, total_tokens: 0 } : null,
      tools: body.tools ?? [],
      store: body.store ?? true,
      ...extra,
    });
    const store = () => {
      if (body.store !== false) this.stored.set(id, { context: [...context, ...output.filter((o) => o.type !== 'code_interpreter_call')] });
    };

    if (!body.stream) {
      if (turn.fail) return this.flat(res, 400, turn.fail.code, turn.fail.message);
      store();
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify(response('completed')));
    }
    res.writeHead(200, { 'content-type': 'text/event-stream;charset=UTF-8' });
    let open = true;
    res.on('close', () => {
      if (open) this.aborted++;
      open = false;
    });
    let seq = 0;
    const emit = (type: string, data: Record<string, unknown>) => {
      if (!open) return;
      res.write(`id:${++seq}\nevent:${type}\n:HTTP_STATUS/200\ndata:${JSON.stringify({ type, sequence_number: seq, ...data })}\n\n`);
    };
    const end = () => {
      if (!open) return;
      open = false;
      res.end();
    };
    emit('response.created', { response: response('queued') });
    emit('response.in_progress', { response: response('in_progress') });
    if (turn.until) await Promise.race([turn.until, new Promise((r) => res.once('close', r))]);
    if (turn.fail) {
      emit('response.failed', { response: { ...response('failed'), error: turn.fail } });
      return end();
    }
    let index = 0;
    for (const item of output) {
      emit('response.output_item.added', { output_index: index, item: item.type === 'message' ? { ...item, content: [], status: 'in_progress' } : { ...item, status: 'in_progress' } });
      if (item.type === 'message') {
        emit('response.content_part.added', { item_id: item.id, output_index: index, content_index: 0, part: { type: 'output_text', text: '' } });
        let first = true;
        for (const piece of pieces) {
          emit('response.output_text.delta', { item_id: item.id, output_index: index, content_index: 0, delta: piece });
          if (first && turn.holdAfterFirstDelta) await Promise.race([turn.holdAfterFirstDelta, new Promise((r) => res.once('close', r))]);
          first = false;
          if (!open) return;
        }
        emit('response.output_text.done', { item_id: item.id, output_index: index, content_index: 0, text });
        emit('response.content_part.done', { item_id: item.id, output_index: index, content_index: 0, part: item.content[0] });
      }
      emit('response.output_item.done', { output_index: index, item });
      index++;
    }
    store();
    this.completedHr.set(id, performance.now());
    emit('response.completed', { response: response('completed') });
    end();
  }
}
