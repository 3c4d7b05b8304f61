import { AssistantApiError } from './errors.js';
import { Transport, delay, type TransportOptions } from './http.js';
import { exchange, type Received } from '../net/exchange.js';
import { eventsOf } from './stream.js';
import {
  TERMINAL_RUN_STATUSES,
  type Assistant,
  type AssistantCreateParams,
  type AssistantUpdateParams,
  type Deleted,
  type ListPage,
  type ListParams,
  type Message,
  type MessageCreateParams,
  type Metadata,
  type Run,
  type RunCreateParams,
  type RunStep,
  type StreamEvent,
  type Thread,
  type ThreadAndRunParams,
  type ThreadCreateParams,
  type ToolOutput,
  type UploadedFile,
} from './types.js';

export interface WaitOptions {
  signal?: AbortSignal;
  /** First poll interval in ms (default 250), growing by half each poll up to `maxIntervalMs` (default 2000). */
  intervalMs?: number;
  maxIntervalMs?: number;
  /** Give up after this long (default: never; use the signal). */
  timeoutMs?: number;
}

const enc = encodeURIComponent;

/** Facts about a streaming response that are not events. */
export interface StreamHooks {
  onRequestId?: (requestId: string) => void;
}

/**
 * A typed client for the whole DashScope Assistant API.
 *
 * @example
 * const api = new AssistantClient({ baseUrl, apiKey, userAgent: 'threadline/0.1.0' });
 * const thread = await api.threads.create();
 * await api.messages.create(thread.id, { content: 'Hello' });
 * for await (const ev of api.runs.stream(thread.id, { assistant_id })) console.log(ev.event);
 */
export class AssistantClient {
  readonly http: Transport;

  constructor(opts: TransportOptions) {
    this.http = new Transport(opts);
  }

  readonly assistants = {
    create: (body: AssistantCreateParams) => this.post<Assistant>('/assistants', { file_ids: [], metadata: null, ...body }),
    list: (params: ListParams = {}) => this.get<ListPage<Assistant>>('/assistants', params),
    retrieve: (id: string) => this.get<Assistant>(`/assistants/${enc(id)}`),
    update: (id: string, body: AssistantUpdateParams) => this.post<Assistant>(`/assistants/${enc(id)}`, body),
    delete: (id: string) => this.del(`/assistants/${enc(id)}`),
    /** Every assistant, following `has_more`/`last_id`. */
    all: async (pageSize = 100): Promise<Assistant[]> => {
      const out: Assistant[] = [];
      let after: string | undefined;
      for (let page = 0; page < 100; page++) {
        const res = await this.assistants.list({ limit: pageSize, order: 'desc', after });
        out.push(...(res.data ?? []));
        if (!res.has_more || !res.last_id || res.last_id === after) break;
        after = res.last_id;
      }
      return out;
    },
  };

  readonly threads = {
    create: (body: ThreadCreateParams = {}) => this.post<Thread>('/threads', body),
    retrieve: (id: string) => this.get<Thread>(`/threads/${enc(id)}`),
    update: (id: string, metadata: Metadata) => this.post<Thread>(`/threads/${enc(id)}`, { metadata }),
    delete: (id: string) => this.del(`/threads/${enc(id)}`),
  };

  readonly messages = {
    create: (threadId: string, body: MessageCreateParams) => this.post<Message>(`/threads/${enc(threadId)}/messages`, { role: 'user', ...body }),
    list: (threadId: string, params: ListParams = {}) => this.get<ListPage<Message>>(`/threads/${enc(threadId)}/messages`, params),
    retrieve: (threadId: string, id: string) => this.get<Message>(`/threads/${enc(threadId)}/messages/${enc(id)}`),
    update: (threadId: string, id: string, metadata: Metadata) => this.post<Message>(`/threads/${enc(threadId)}/messages/${enc(id)}`, { metadata }),
  };

  readonly runs = {
    create: (threadId: string, body: RunCreateParams, signal?: AbortSignal) => this.post<Run>(`/threads/${enc(threadId)}/runs`, { ...body, stream: false }, signal),
    /** Create a run with `stream: true`; the events arrive as they happen. */
    stream: (threadId: string, body: RunCreateParams, signal?: AbortSignal, hooks?: StreamHooks) => this.streamOf(`/threads/${enc(threadId)}/runs`, body, signal, hooks),
    createThreadAndRun: (body: ThreadAndRunParams, signal?: AbortSignal) => this.post<Run>('/threads/runs', { ...body, stream: false }, signal),
    streamThreadAndRun: (body: ThreadAndRunParams, signal?: AbortSignal) => this.streamOf('/threads/runs', body, signal),
    list: (threadId: string, params: ListParams = {}) => this.get<ListPage<Run>>(`/threads/${enc(threadId)}/runs`, params),
    retrieve: (threadId: string, runId: string, signal?: AbortSignal) => this.get<Run>(`/threads/${enc(threadId)}/runs/${enc(runId)}`, undefined, signal),
    update: (threadId: string, runId: string, metadata: Metadata) => this.post<Run>(`/threads/${enc(threadId)}/runs/${enc(runId)}`, { metadata }),
    /** Only some deployments have this endpoint (the 2026 docs say none exists): expect NotFound. */
    cancel: (threadId: string, runId: string) => this.post<Run>(`/threads/${enc(threadId)}/runs/${enc(runId)}/cancel`, {}),
    submitToolOutputs: (threadId: string, runId: string, toolOutputs: ToolOutput[], signal?: AbortSignal) =>
      this.post<Run>(`/threads/${enc(threadId)}/runs/${enc(runId)}/submit_tool_outputs`, { tool_outputs: toolOutputs, stream: false }, signal),
    submitToolOutputsStream: (threadId: string, runId: string, toolOutputs: ToolOutput[], signal?: AbortSignal, hooks?: StreamHooks) =>
      this.streamOf(`/threads/${enc(threadId)}/runs/${enc(runId)}/submit_tool_outputs`, { tool_outputs: toolOutputs }, signal, hooks),
    /**
     * Polls until the run needs tool output or reaches a terminal status (completed, failed,
     * cancelled, expired, incomplete), backing off from 250 ms to 2 s.
     */
    wait: (threadId: string, runId: string, opts: WaitOptions = {}) => this.wait(threadId, runId, opts),
  };

  readonly steps = {
    list: (threadId: string, runId: string, params: ListParams = {}) => this.get<ListPage<RunStep>>(`/threads/${enc(threadId)}/runs/${enc(runId)}/steps`, params),
    retrieve: (threadId: string, runId: string, stepId: string) => this.get<RunStep>(`/threads/${enc(threadId)}/runs/${enc(runId)}/steps/${enc(stepId)}`),
  };

  readonly files = {
    /** Multipart upload to the generic file store (part `files`, optional `descriptions`). */
    upload: async (file: { bytes: Uint8Array; filename: string; contentType?: string; description?: string }) => {
      const form = new FormData();
      form.append('files', new Blob([file.bytes], { type: file.contentType ?? 'application/octet-stream' }), file.filename);
      if (file.description) form.append('descriptions', file.description);
      const res = await this.http.request<{ data?: { uploaded_files?: UploadedFile[] }; request_id?: string }>({ method: 'POST', path: '/files', form });
      const uploaded = res.data?.uploaded_files?.[0];
      if (!uploaded) throw new AssistantApiError({ status: 200, code: 'InvalidResponse', message: 'upload returned no file', requestId: res.request_id });
      return uploaded;
    },
    /** A file's entry: `GET /files/{id}` → `data: {file_id, name, url, …}` (reference §3.7). */
    retrieve: async (fileId: string) => (await this.http.request<{ data?: { file_id?: string; name?: string; url?: string } }>({ method: 'GET', path: `/files/${enc(fileId)}` })).data ?? {},
    /**
     * A file's bytes (what the code interpreter made): its entry's `url`, a download address DashScope
     * itself gives, read with one deadline and a size cap.
     */
    content: async (fileId: string, maxBytes: number): Promise<{ name: string; contentType: string; bytes: Uint8Array }> => {
      const entry = await this.files.retrieve(fileId);
      if (!entry.url) throw new AssistantApiError({ status: 200, code: 'InvalidResponse', message: 'the file has no download address' });
      const res = await exchange({ method: 'GET', url: new URL(entry.url), headers: {}, timeoutMs: 30_000, timeBody: true });
      if (res.status !== 200) {
        await res.discard();
        throw new AssistantApiError({ status: res.status, code: 'DownloadFailed', message: `file download answered ${res.status}` });
      }
      const declared = Number(res.headers.get('content-length'));
      if (Number.isFinite(declared) && declared > maxBytes) {
        await res.discard();
        throw new AssistantApiError({ status: 200, code: 'TooLarge', message: `file larger than ${maxBytes} bytes` });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += chunk.byteLength;
        if (size > maxBytes) throw new AssistantApiError({ status: 200, code: 'TooLarge', message: `file larger than ${maxBytes} bytes` });
        chunks.push(Buffer.from(chunk));
      }
      const type = (res.headers.get('content-type') ?? 'application/octet-stream').split(';')[0].trim().toLowerCase();
      return { name: entry.name || fileId, contentType: type, bytes: new Uint8Array(Buffer.concat(chunks)) };
    },
    /** Deletes a file from the store (a reset conversation's shared files). */
    delete: (fileId: string) => this.http.request<unknown>({ method: 'DELETE', path: `/files/${enc(fileId)}` }),
  };

  private async wait(threadId: string, runId: string, opts: WaitOptions): Promise<Run> {
    const max = opts.maxIntervalMs ?? 2_000;
    let interval = opts.intervalMs ?? 250;
    const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
    for (;;) {
      const run = await this.runs.retrieve(threadId, runId, opts.signal);
      if (run.status === 'requires_action' || TERMINAL_RUN_STATUSES.has(run.status)) return run;
      if (Date.now() + interval > deadline) {
        throw new AssistantApiError({ status: 0, code: 'Timeout', message: `run ${runId} still ${run.status} after ${opts.timeoutMs} ms` });
      }
      await delay(interval, opts.signal);
      interval = Math.min(max, Math.round(interval * 1.5));
    }
  }

  private get<T>(path: string, query?: ListParams, signal?: AbortSignal): Promise<T> {
    return this.http.request<T>({ method: 'GET', path, query: query as Record<string, string | number | undefined>, signal });
  }

  private post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.http.request<T>({ method: 'POST', path, body, signal });
  }

  private del(path: string): Promise<Deleted> {
    return this.http.request<Deleted>({ method: 'DELETE', path });
  }

  private async *streamOf(path: string, body: object, signal?: AbortSignal, hooks?: StreamHooks): AsyncGenerator<StreamEvent> {
    const res = await this.http.request<Received>({ method: 'POST', path, body: { ...body, stream: true }, signal, raw: true });
    const requestId = res.headers.get('x-request-id');
    if (requestId) hooks?.onRequestId?.(requestId);
    yield* eventsOf(res, signal);
  }
}

/** Text of an assistant message (all text parts joined). */
export function messageText(message: Pick<Message, 'content'>): string {
  const parts: string[] = [];
  for (const c of message.content ?? []) {
    if (c.type === 'text' && c.text && typeof (c.text as { value?: unknown }).value === 'string') parts.push((c.text as { value: string }).value);
  }
  return parts.join('\n');
}
