import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { CallLog, closeServer, listenLocal, readBody, type Call } from './call-log.js';

/**
 * A fake DashScope Assistant API on 127.0.0.1 that follows shared/reference/dashscope-assistant-api.md:
 * flat JSON bodies with request_id, ms timestamps, `message_` ids, list envelopes, SSE runs
 * (`event:<name>` without a space, array `delta.content`, `event:done`/`data:[DONE]`), runs that
 * take time, requires_action with function calls, and fault switches. Like the real service it
 * refuses (400) a run on a thread that already has an active one, and counts those attempts.
 */

export interface ModelInput {
  thread: FakeThread;
  run: FakeRun;
  /** Text of the user messages added since the previous run on this thread. */
  newUserMessages: string[];
  /** Outputs submitted for the previous round's tool calls (empty on the first round). */
  toolOutputs: Array<{ tool_call_id?: string; output: string }>;
  round: number;
}

/** What the fake model does in one round of a run. */
export interface ModelTurn {
  /** Text of the assistant reply; an array is streamed chunk by chunk. */
  text?: string | string[];
  /** Pause before each delta (and before finishing), in ms. */
  delayMs?: number;
  /** Wait for this promise before finishing (a model that takes as long as the test wants). */
  until?: Promise<unknown>;
  /** Ask the client to run these function tools (the run goes to requires_action). */
  toolCalls?: Array<{ name: string; arguments: unknown }>;
  /**
   * A code interpreter step shown before the text; `image` makes a file in the store, named in the
   * step's outputs as OpenAI's shape has it (`{type:"image", image:{file_id}}`, which DashScope's SDKs
   * model; no DashScope payload with it was found).
   */
  codeInterpreter?: { input: string; output: string; image?: { name: string; bytes: Buffer; contentType: string } };
  /** Files in the answer itself: an `image_file` content part and a `file_path` annotation (OpenAI's shapes, modelled by DashScope's SDKs, not seen from DashScope). */
  answerFiles?: { image?: { name: string; bytes: Buffer; contentType: string }; path?: { name: string; bytes: Buffer; contentType: string } };
  /** Fail the run with this last_error. */
  fail?: { code: string; message: string };
  /** Never finish (stays in_progress until cancelled). */
  hang?: boolean;
  /** After the first text delta, wait for this promise (a process can be killed mid-reply). */
  holdAfterFirstDelta?: Promise<unknown>;
}

export type Model = (input: ModelInput) => ModelTurn | Promise<ModelTurn>;

export interface Fault {
  /** Which request the fault hits (default: any). */
  match?: (method: string, path: string, body: any) => boolean;
  kind: '429' | '500' | '503' | 'reset' | 'cut-stream' | 'error-event';
  retryAfter?: number;
  /** For cut-stream: how many text deltas go out before the cut (default 1). */
  afterDeltas?: number;
  /** How many requests it hits (default 1). */
  times?: number;
}

export interface FakeThread {
  id: string;
  created_at: number;
  metadata: Record<string, string> | null;
  messages: any[];
  activeRunId?: string;
  /** Index into messages of the first user message not yet seen by a run. */
  consumed: number;
}

export interface FakeRun {
  id: string;
  thread_id: string;
  assistant_id: string;
  status: string;
  body: any;
  created_at: number;
  required_action: any;
  last_error: any;
  round: number;
  pendingToolCalls: Array<{ id: string; name: string; arguments: string }>;
  cancelRequested: boolean;
  completed_at: number | null;
  wake?: () => void;
  /** performance.now() of the first text delta and of the final status event (benchmarks). */
  firstDeltaHr?: number;
  finishedHr?: number;
}

const now = () => Date.now();
const rid = () => randomUUID();

export class FakeDashScope {
  readonly log = new CallLog<Call>();
  readonly assistants = new Map<string, any>();
  readonly threads = new Map<string, FakeThread>();
  readonly runs = new Map<string, FakeRun>();
  readonly steps = new Map<string, any[]>();
  readonly files = new Map<string, { name: string; bytes: Buffer; contentType?: string }>();
  faults: Fault[] = [];
  /** Attempts to start a run on a thread that had an active run (the real service refuses them). */
  overlapAttempts = 0;
  /** The most runs that were active on one thread at once (must stay 1). */
  maxConcurrentRunsPerThread = 0;
  runsStarted = 0;
  cancelSupported = true;
  /** While set, a streamed run exists but its first event (`thread.run.created`) waits for this. */
  holdRunCreated?: Promise<unknown>;
  apiKey = 'sk-test-key';
  model: Model = ({ newUserMessages }) => ({ text: `You said: ${newUserMessages.join(' | ')}` });
  private server?: Server;
  private sockets = new Set<import('node:net').Socket>();
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        if (!res.headersSent) this.json(res, 500, { code: 'InternalError', message: String(err) });
        else res.destroy();
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.url = `${await listenLocal(this.server)}/api/v1`;
    return this;
  }

  async stop(): Promise<void> {
    for (const run of this.runs.values()) run.wake?.();
    for (const s of this.sockets) s.destroy();
    await closeServer(this.server);
  }

  /** Requests that reached the run-creating endpoints. */
  runCreates(): Call[] {
    return this.log.filter((c) => c.method === 'POST' && /\/runs$/.test(c.path));
  }

  /**
   * User messages added, in order, one entry per message: Message.create calls, and the messages
   * a thread was created with (shown as if posted to that thread).
   */
  messageCreates(threadId?: string): Call[] {
    const out: Call[] = [];
    for (const c of this.log.calls) {
      if (c.method !== 'POST') continue;
      if (/^\/threads\/[^/]+\/messages$/.test(c.path)) out.push(c);
      else if (c.path === '/threads' && c.createdId && Array.isArray(c.body?.messages)) {
        for (const msg of c.body.messages) out.push({ ...c, path: `/threads/${c.createdId}/messages`, body: { role: 'user', ...msg } });
      }
    }
    return threadId ? out.filter((c) => c.path === `/threads/${threadId}/messages`) : out;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const raw = await readBody(req);
    let body: any = undefined;
    if (raw.length && (req.headers['content-type'] ?? '').includes('json')) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return this.json(res, 400, { code: 'InvalidParameter', message: 'body is not JSON' });
      }
    }
    if (url.pathname.startsWith('/oss/')) {
      // a file's download address, as GET /files/{id} gives it: signed, no API key (an OSS URL at DashScope)
      const f = this.files.get(url.pathname.split('/')[2]);
      this.log.record({ method: 'GET', path: url.pathname, query: {}, headers: req.headers, body: null, at: now(), hr: performance.now() });
      if (!f) return this.json(res, 404, { code: 'NoSuchKey', message: 'not found' });
      res.writeHead(200, { 'content-type': f.contentType ?? 'application/octet-stream', 'content-length': f.bytes.length });
      return void res.end(f.bytes);
    }
    const path = url.pathname.replace(/^\/api\/v1/, '');
    const call: Call = { method: req.method ?? 'GET', path, query: Object.fromEntries(url.searchParams), headers: req.headers, body, at: now(), hr: performance.now() };
    if (req.headers.authorization !== `Bearer ${this.apiKey}`) {
      this.log.record(call);
      return this.json(res, 401, { code: 'InvalidApiKey', message: 'Invalid API-key provided.' });
    }
    const fault = this.takeFault(call.method, path, body);
    if (fault) {
      this.log.record(call);
      if (fault.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      const status = Number(fault.kind);
      if (fault.retryAfter !== undefined) res.setHeader('Retry-After', String(fault.retryAfter));
      return this.json(res, status, status === 429 ? { code: 'Throttling.RateQuota', message: 'Requests rate limit exceeded' } : { code: 'InternalError', message: 'Internal server error' });
    }
    if (req.headers['content-type']?.includes('multipart/form-data')) call.body = { multipart: true };
    this.log.record(call);
    const m = call.method;
    const seg = path.split('/').filter(Boolean);

    // /assistants
    if (seg[0] === 'assistants') {
      if (seg.length === 1 && m === 'POST') {
        if (!body?.model) return this.json(res, 400, { code: 'InvalidParameter', message: 'model is required' });
        const a = {
          id: `asst_${rid()}`,
          object: 'assistant',
          created_at: now(),
          description: '',
          instructions: '',
          tools: [],
          file_ids: [],
          metadata: {},
          account_id: 'sk-xxxx',
          gmt_crete: '2024-03-06 17:15:40',
          is_deleted: false,
          ...stripNull(body),
        };
        this.assistants.set(a.id, a);
        return this.json(res, 200, a);
      }
      if (seg.length === 1 && m === 'GET') return this.list(res, [...this.assistants.values()], call.query);
      const a = this.assistants.get(seg[1]);
      if (!a) return this.json(res, 404, { code: 'NotFound', message: 'assistant not found' });
      if (m === 'GET') return this.json(res, 200, a);
      if (m === 'POST') {
        Object.assign(a, stripNull(body ?? {}));
        return this.json(res, 200, a);
      }
      if (m === 'DELETE') {
        this.assistants.delete(a.id);
        return this.json(res, 200, { id: a.id, object: 'assistant.deleted', deleted: true });
      }
    }

    if (seg[0] === 'files' && seg.length === 2 && m === 'GET') {
      const f = this.files.get(seg[1]);
      if (!f) return this.json(res, 404, { code: 'NotFound', message: 'file not found' });
      return this.json(res, 200, {
        request_id: rid(),
        data: { id: 1, file_id: seg[1], name: f.name, description: '', url: `${this.url.replace(/\/api\/v1$/, '')}/oss/${seg[1]}?Expires=1799999999&Signature=fake` },
      });
    }
    if (seg[0] === 'files' && seg.length === 2 && m === 'DELETE') {
      if (!this.files.delete(seg[1])) return this.json(res, 404, { code: 'NotFound', message: 'file not found' });
      return this.json(res, 200, { request_id: rid(), code: '', success: true });
    }
    if (seg[0] === 'files' && m === 'POST') {
      const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': String(req.headers['content-type']) } }).formData();
      const file = form.get('files') as File | null;
      if (!file) return this.json(res, 400, { code: 'InvalidParameter', message: 'files part missing' });
      const id = rid();
      this.files.set(id, { name: file.name, bytes: Buffer.from(await file.arrayBuffer()) });
      return this.json(res, 200, { data: { uploaded_files: [{ file_id: id, name: file.name }] } });
    }

    if (seg[0] !== 'threads') return this.json(res, 404, { code: 'NotFound', message: `no route ${m} ${path}` });

    // POST /threads/runs (create thread and run)
    if (seg[1] === 'runs' && seg.length === 2 && m === 'POST') {
      const thread = this.createThread(body?.thread);
      return this.startRun(thread, body ?? {}, res);
    }
    if (seg.length === 1 && m === 'POST') {
      const ids = (Array.isArray(body?.messages) ? body.messages : []).flatMap((x: { file_ids?: unknown }) => (Array.isArray(x.file_ids) ? x.file_ids : []));
      if (ids.some((id: unknown) => typeof id !== 'string' || !this.files.has(id))) return this.json(res, 400, { code: 'InvalidParameter', message: 'file_ids: unknown file' });
      const t = this.createThread(typeof body === 'object' ? body : undefined);
      call.createdId = t.id;
      return this.json(res, 200, this.threadView(t));
    }
    const thread = this.threads.get(seg[1]);
    if (!thread) return this.json(res, 404, { code: 'NotFound', message: 'thread not found' });
    if (seg.length === 2) {
      if (m === 'GET') return this.json(res, 200, this.threadView(thread));
      if (m === 'POST') {
        thread.metadata = body?.metadata ?? null;
        return this.json(res, 200, this.threadView(thread));
      }
      if (m === 'DELETE') {
        this.threads.delete(thread.id);
        return this.json(res, 200, { id: thread.id, object: 'thread', deleted: true });
      }
    }
    if (seg[2] === 'messages') {
      if (seg.length === 3 && m === 'POST') {
        if (typeof body?.content !== 'string') return this.json(res, 400, { code: 'InvalidParameter', message: 'content must be a string' });
        if (thread.activeRunId) return this.json(res, 400, { code: 'InvalidParameter', message: 'thread has an active run' });
        const fileIds: unknown = body.file_ids ?? [];
        if (!Array.isArray(fileIds) || fileIds.some((id) => typeof id !== 'string' || !this.files.has(id))) return this.json(res, 400, { code: 'InvalidParameter', message: 'file_ids: unknown file' });
        const msg = this.addMessage(thread, 'user', body.content, body.metadata ?? {}, '', '', fileIds as string[]);
        return this.json(res, 200, msg);
      }
      if (seg.length === 3 && m === 'GET') return this.list(res, thread.messages, call.query);
      const msg = thread.messages.find((x) => x.id === seg[3]);
      if (!msg) return this.json(res, 404, { code: 'NotFound', message: 'message not found' });
      if (m === 'GET') return this.json(res, 200, msg);
      if (m === 'POST') {
        msg.metadata = body?.metadata ?? {};
        return this.json(res, 200, msg);
      }
    }
    if (seg[2] === 'runs') {
      if (seg.length === 3 && m === 'POST') return this.startRun(thread, body ?? {}, res);
      if (seg.length === 3 && m === 'GET')
        return this.list(
          res,
          [...this.runs.values()].filter((r) => r.thread_id === thread.id).map((r) => this.runView(r)),
          call.query,
        );
      const run = this.runs.get(seg[3]);
      if (!run || run.thread_id !== thread.id) return this.json(res, 404, { code: 'NotFound', message: 'run not found' });
      if (seg.length === 4 && m === 'GET') return this.json(res, 200, this.runView(run));
      if (seg.length === 4 && m === 'POST') {
        run.body.metadata = body?.metadata ?? null;
        return this.json(res, 200, this.runView(run));
      }
      if (seg[4] === 'cancel' && m === 'POST') {
        if (!this.cancelSupported) return this.json(res, 404, { code: 'NotFound', message: 'No dedicated cancel endpoint' });
        if (isTerminal(run.status)) return this.json(res, 400, { code: 'InvalidParameter', message: `run is ${run.status}` });
        run.cancelRequested = true;
        run.status = 'cancelling';
        run.wake?.();
        return this.json(res, 200, this.runView(run));
      }
      if (seg[4] === 'submit_tool_outputs' && m === 'POST') {
        if (run.status !== 'requires_action') return this.json(res, 400, { code: 'InvalidParameter', message: `run is ${run.status}, not requires_action` });
        const outputs = Array.isArray(body?.tool_outputs) ? body.tool_outputs : [];
        run.status = 'queued';
        run.required_action = null;
        const stepList = this.steps.get(run.id) ?? [];
        const last = stepList.at(-1);
        if (last?.step_details?.type === 'tool_calls') {
          last.step_details.tool_calls.forEach((tc: any, i: number) => (tc.function.output = outputs[i]?.output ?? null));
          last.status = 'completed';
        }
        return this.execute(run, thread, outputs, body?.stream === true ? res : undefined, res);
      }
      if (seg[4] === 'steps') {
        const list = this.steps.get(run.id) ?? [];
        if (seg.length === 5) return this.list(res, list, call.query);
        const step = list.find((s) => s.id === seg[5]);
        return step ? this.json(res, 200, step) : this.json(res, 404, { code: 'NotFound', message: 'step not found' });
      }
    }
    return this.json(res, 404, { code: 'NotFound', message: `no route ${m} ${path}` });
  }

  private takeFault(method: string, path: string, body: any): Fault | undefined {
    const inStream = method === 'STREAM';
    const i = this.faults.findIndex((f) => (f.kind === 'cut-stream' || f.kind === 'error-event') === inStream && (!f.match || f.match(method, path, body)));
    if (i < 0) return undefined;
    const f = this.faults[i];
    f.times = (f.times ?? 1) - 1;
    if (f.times <= 0) this.faults.splice(i, 1);
    return f;
  }

  private createThread(init?: { messages?: Array<{ content: string; file_ids?: string[] }>; metadata?: any }): FakeThread {
    const t: FakeThread = { id: `thread_${rid()}`, created_at: now(), metadata: init?.metadata ?? {}, messages: [], consumed: 0 };
    for (const msg of init?.messages ?? []) this.addMessage(t, 'user', msg.content, (msg as { metadata?: unknown }).metadata ?? {}, '', '', msg.file_ids);
    this.threads.set(t.id, t);
    return t;
  }

  private addMessage(t: FakeThread, role: 'user' | 'assistant', text: string, metadata: any, runId = '', assistantId = '', fileIds: string[] = []): any {
    const msg = {
      id: `message_${rid()}`,
      object: 'thread.message',
      created_at: now(),
      thread_id: t.id,
      assistant_id: assistantId,
      run_id: runId,
      role,
      content: [{ type: 'text', text: { value: text, annotations: [] } }],
      file_ids: fileIds,
      metadata,
      from: '',
      name: '',
      plugin_call: {},
      tool_calls: [],
      status: role === 'user' ? '' : 'completed',
      incomplete_details: {},
      completed_at: null,
      incomplete_at: null,
    };
    t.messages.push(msg);
    return msg;
  }

  private threadView(t: FakeThread) {
    return { id: t.id, object: 'thread', created_at: t.created_at, metadata: t.metadata };
  }

  private runView(r: FakeRun) {
    return {
      id: r.id,
      object: 'thread.run',
      created_at: r.created_at,
      thread_id: r.thread_id,
      assistant_id: r.assistant_id,
      status: r.status,
      required_action: r.required_action,
      last_error: r.last_error,
      model: r.body.model ?? 'qwen-plus',
      instructions: r.body.instructions ?? '',
      tools: r.body.tools ?? [],
      file_ids: [],
      metadata: r.body.metadata ?? {},
      started_at: r.created_at,
      expires_at: null,
      cancelled_at: -1,
      failed_at: -1,
      completed_at: r.completed_at ?? -1,
      usage: r.status === 'completed' ? { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } : null,
    };
  }

  private startRun(thread: FakeThread, body: any, res: ServerResponse): Promise<void> | void {
    if (!body.assistant_id) return this.json(res, 400, { code: 'InvalidParameter', message: 'assistant_id is required' });
    if (!this.assistants.has(body.assistant_id)) return this.json(res, 404, { code: 'NotFound', message: 'assistant not found' });
    if (thread.activeRunId) {
      this.overlapAttempts++;
      return this.json(res, 400, { code: 'InvalidParameter', message: 'Thread already has an active run' });
    }
    const run: FakeRun = {
      id: `run_${rid()}`,
      thread_id: thread.id,
      assistant_id: body.assistant_id,
      status: 'queued',
      body,
      created_at: now(),
      required_action: null,
      last_error: null,
      round: 0,
      pendingToolCalls: [],
      cancelRequested: false,
      completed_at: null,
    };
    this.runs.set(run.id, run);
    thread.activeRunId = run.id;
    this.runsStarted++;
    const active = [...this.runs.values()].filter((r) => r.thread_id === thread.id && !isTerminal(r.status)).length;
    this.maxConcurrentRunsPerThread = Math.max(this.maxConcurrentRunsPerThread, active);
    return this.execute(run, thread, [], body.stream === true ? res : undefined, res);
  }

  /** Runs one round of the model; streams its events to `stream` or answers `res` with the run at once. */
  private async execute(run: FakeRun, thread: FakeThread, toolOutputs: any[], stream: ServerResponse | undefined, res: ServerResponse): Promise<void> {
    let seq = 0;
    let cut: Fault | undefined;
    let deltas = 0;
    let open = !!stream;
    if (stream) {
      cut = this.takeFault('STREAM', `/threads/${thread.id}/runs/${run.id}`, run.body);
      stream.writeHead(200, { 'content-type': 'text/event-stream;charset=UTF-8', 'x-request-id': rid() });
      stream.on('close', () => (open = false));
    } else {
      this.json(res, 200, this.runView(run));
    }
    const emit = (event: string, data: unknown) => {
      if (!open || !stream) return;
      stream.write(`id:${++seq}\nevent:${event}\ndata:${JSON.stringify(data)}\n\n`);
    };
    const end = () => {
      if (!open || !stream) return;
      stream.write('event:done\ndata:[DONE]\n\n');
      stream.end();
      open = false;
    };
    if (cut?.kind === 'error-event') {
      stream!.write(`event:error\nstatus:500\ndata:${JSON.stringify({ code: 'InternalError', message: 'model overloaded', request_id: rid() })}\n\n`);
      stream!.end();
      open = false;
    }
    const maybeCut = async () => {
      if (cut?.kind === 'cut-stream' && deltas >= (cut.afterDeltas ?? 1) && open) {
        open = false;
        // let what was written reach the client first, so the cut comes mid-stream
        await new Promise<void>((r) => stream!.write('', () => setTimeout(r, 30)));
        stream!.socket?.destroy();
      }
    };

    if (run.round === 0 && stream && this.holdRunCreated) await this.holdRunCreated;
    if (run.round === 0) {
      emit('thread.run.created', this.runView(run));
      emit('thread.run.queued', this.runView(run));
    }
    run.status = 'in_progress';
    emit('thread.run.in_progress', this.runView(run));

    const newUserMessages = thread.messages
      .slice(thread.consumed)
      .filter((x) => x.role === 'user')
      .map((x) => x.content[0].text.value);
    if (run.round === 0) thread.consumed = thread.messages.length;
    const turn = await this.model({ thread, run, newUserMessages, toolOutputs, round: run.round });
    run.round++;
    const wait = async (ms?: number) => {
      if (!ms) return;
      await new Promise<void>((r) => {
        const t = setTimeout(r, ms);
        run.wake = () => {
          clearTimeout(t);
          r();
        };
      });
    };
    const finish = (status: string, error?: { code: string; message: string }) => {
      run.status = status;
      run.completed_at = status === 'completed' ? now() : null;
      run.last_error = error ?? null;
      if (thread.activeRunId === run.id) thread.activeRunId = undefined;
      run.finishedHr = performance.now();
      emit(`thread.run.${status}`, this.runView(run));
      end();
    };

    if (turn.hang) {
      while (!run.cancelRequested) await wait(60_000);
    }
    if (turn.until) await Promise.race([turn.until, new Promise<void>((r) => (run.wake = r))]);
    if (run.cancelRequested) return finish('cancelled');

    const stepList = this.steps.get(run.id) ?? [];
    this.steps.set(run.id, stepList);
    if (turn.codeInterpreter) {
      const made = turn.codeInterpreter.image;
      const fileId = made ? rid() : undefined;
      if (made && fileId) this.files.set(fileId, { name: made.name, bytes: made.bytes, contentType: made.contentType });
      const outputs = fileId
        ? {
            outputs: [
              { type: 'logs', logs: turn.codeInterpreter.output },
              { type: 'image', image: { file_id: fileId } },
            ],
          }
        : {};
      const step = this.step(run, 'tool_calls', {
        type: 'tool_calls',
        tool_calls: [{ id: `call_${rid()}`, type: 'code_interpreter', code_interpreter: { input: turn.codeInterpreter.input, output: turn.codeInterpreter.output, ...outputs } }],
      });
      stepList.push(step);
      emit('thread.run.step.created', step);
      step.status = 'completed';
      emit('thread.run.step.completed', step);
    }
    if (turn.toolCalls?.length) {
      const calls = turn.toolCalls.map((c) => ({
        id: `call_${rid()}`,
        type: 'function',
        function: { name: c.name, arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments), output: null },
      }));
      const step = this.step(run, 'tool_calls', { type: 'tool_calls', tool_calls: calls });
      stepList.push(step);
      emit('thread.run.step.created', step);
      calls.forEach((c, index) => {
        const args = c.function.arguments;
        const half = Math.ceil(args.length / 2);
        emit('thread.run.step.delta', {
          id: step.id,
          object: 'thread.run.step.delta',
          delta: { step_details: { type: 'tool_calls', tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.function.name, arguments: args.slice(0, half), output: null } }] } },
        });
        emit('thread.run.step.delta', {
          id: step.id,
          object: 'thread.run.step.delta',
          delta: { step_details: { type: 'tool_calls', tool_calls: [{ index, function: { arguments: args.slice(half) } }] } },
        });
      });
      run.status = 'requires_action';
      run.required_action = {
        type: 'submit_tool_outputs',
        submit_tool_outputs: { tool_calls: calls.map(({ id, type, function: f }) => ({ id, type, function: { name: f.name, arguments: f.arguments } })) },
      };
      emit('thread.run.requires_action', this.runView(run));
      end();
      return;
    }
    if (turn.fail) return finish('failed', turn.fail);

    const chunks = turn.text === undefined ? [] : Array.isArray(turn.text) ? turn.text : [turn.text];
    const msg = this.addMessage(thread, 'assistant', '', {}, run.id, run.assistant_id);
    msg.status = 'in_progress';
    const step = this.step(run, 'message_creation', { type: 'message_creation', message_creation: { message_id: msg.id } });
    stepList.push(step);
    emit('thread.run.step.created', step);
    emit('thread.run.step.in_progress', step);
    emit('thread.message.created', { ...msg, content: [] });
    emit('thread.message.in_progress', { ...msg, content: [] });
    let full = '';
    for (const chunk of chunks) {
      await wait(turn.delayMs);
      if (run.cancelRequested) {
        thread.messages.splice(thread.messages.indexOf(msg), 1);
        return finish('cancelled');
      }
      full += chunk;
      run.firstDeltaHr ??= performance.now();
      emit('thread.message.delta', { id: msg.id, object: 'thread.message.delta', delta: { role: 'assistant', content: [{ index: 0, type: 'text', text: { value: chunk, annotations: [] } }] } });
      deltas++;
      await maybeCut();
      if (deltas === 1 && turn.holdAfterFirstDelta) await Promise.race([turn.holdAfterFirstDelta, new Promise<void>((r) => (run.wake = r))]);
    }
    await wait(turn.delayMs);
    const store = (f: { name: string; bytes: Buffer; contentType: string }) => {
      const id = rid();
      this.files.set(id, f);
      return id;
    };
    const imageId = turn.answerFiles?.image && store(turn.answerFiles.image);
    const pathId = turn.answerFiles?.path && store(turn.answerFiles.path);
    const annotations = pathId ? [{ type: 'file_path', text: `sandbox:/mnt/data/${turn.answerFiles!.path!.name}`, file_path: { file_id: pathId }, start_index: 0, end_index: 0 }] : [];
    msg.content = [{ type: 'text', text: { value: full, annotations } }, ...(imageId ? [{ type: 'image_file', image_file: { file_id: imageId } }] : [])];
    msg.status = 'completed';
    emit('thread.message.completed', msg);
    step.status = 'completed';
    emit('thread.run.step.completed', step);
    finish('completed');
  }

  private step(run: FakeRun, type: string, details: any): any {
    return {
      id: `step_${rid()}`,
      object: 'thread.run.step',
      created_at: now(),
      run_id: run.id,
      assistant_id: run.assistant_id,
      thread_id: run.thread_id,
      type,
      status: 'in_progress',
      step_details: details,
      last_error: { code: '', message: '' },
      expires_at: null,
      cancelled_at: -1,
      failed_at: -1,
      completed_at: -1,
      metadata: {},
      usage: {},
    };
  }

  private list(res: ServerResponse, items: any[], q: Record<string, string>): void {
    let data = [...items];
    if (q.order === 'desc') data.reverse();
    if (q.after) {
      const i = data.findIndex((x) => x.id === q.after);
      data = i >= 0 ? data.slice(i + 1) : data;
    }
    if (q.before) {
      const i = data.findIndex((x) => x.id === q.before);
      data = i >= 0 ? data.slice(0, i) : data;
    }
    const limit = Number(q.limit) || 20;
    const page = data.slice(0, limit);
    this.json(res, 200, { object: 'list', data: page, first_id: page[0]?.id ?? '', last_id: page.at(-1)?.id ?? '', has_more: data.length > limit });
  }

  private json(res: ServerResponse, status: number, body: Record<string, unknown>): void {
    const requestId = rid();
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-request-id': requestId });
    res.end(JSON.stringify({ ...body, request_id: requestId }));
  }
}

function isTerminal(s: string): boolean {
  return ['completed', 'failed', 'cancelled', 'expired', 'incomplete'].includes(s);
}

function stripNull(o: any): any {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== null));
}
