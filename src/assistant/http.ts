import { AssistantApiError, errorFromBody } from './errors.js';
import { NetError, encodeForm, exchange, type Received } from '../net/exchange.js';

export interface TransportOptions {
  baseUrl: string;
  apiKey: string;
  workspace?: string;
  userAgent: string;
  /** Per-request timeout in ms, until the body is read (streams: until the response headers arrive). */
  timeoutMs?: number;
  /** Retries after the first attempt, for requests where a repeat is safe. */
  maxRetries?: number;
  /** Base and cap of the exponential back-off, in ms. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Seen for every response; lets metrics and logs count requests without the client knowing them. */
  onResponse?: (info: { method: string; path: string; status: number; ms: number; requestId?: string; code?: string }) => void;
}

export interface RequestOptions {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  form?: FormData;
  signal?: AbortSignal;
  /** Return the response itself (for SSE) instead of parsed JSON. */
  raw?: boolean;
  /** Extra headers (image synthesis: `X-DashScope-Async: enable`). */
  headers?: Record<string, string>;
}

const IDEMPOTENT = new Set(['GET', 'DELETE']);

/**
 * HTTP for DashScope's native API (the Assistant API, image synthesis): auth and workspace headers, a timeout on every request, and
 * retries with exponential back-off and full jitter (Retry-After wins when present) for 429,
 * 5xx and network errors — only where a repeat cannot duplicate work: reads, and writes the
 * server refused before acting (429, or a connection that was never made).
 */
export class Transport {
  readonly baseUrl: string;
  private readonly opts: Required<Omit<TransportOptions, 'workspace' | 'onResponse'>> & Pick<TransportOptions, 'workspace' | 'onResponse'>;

  constructor(opts: TransportOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.opts = { timeoutMs: 60_000, maxRetries: 3, backoffBaseMs: 250, backoffMaxMs: 8_000, ...opts };
  }

  async request<T>(req: RequestOptions): Promise<T> {
    const res = await this.send(req);
    if (req.raw) return res as unknown as T;
    const text = await res.text().catch((err: unknown) => {
      throw apiError(err);
    });
    if (!text) return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new AssistantApiError({ status: res.status, code: 'InvalidResponse', message: 'response is not JSON', requestId: res.headers.get('x-request-id') ?? undefined, cause });
    }
  }

  private async send(req: RequestOptions): Promise<Received> {
    let attempt = 0;
    for (;;) {
      try {
        return await this.once(req);
      } catch (err) {
        if (!(err instanceof AssistantApiError) || !err.retryable || attempt >= this.opts.maxRetries) throw err;
        const safe = IDEMPOTENT.has(req.method) || err.refusedBeforeActing;
        if (!safe || req.signal?.aborted) throw err;
        attempt++;
        await delay(this.backoff(attempt, err.retryAfter), req.signal);
      }
    }
  }

  private backoff(attempt: number, retryAfter?: number): number {
    if (retryAfter !== undefined) return Math.min(retryAfter * 1000, 60_000);
    const cap = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** (attempt - 1));
    return cap / 2 + Math.random() * (cap / 2);
  }

  private async once(req: RequestOptions): Promise<Received> {
    const url = new URL(this.baseUrl + req.path);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.opts.apiKey}`,
      Accept: 'application/json; charset=utf-8',
      'User-Agent': this.opts.userAgent,
    };
    if (this.opts.workspace) headers['X-DashScope-WorkSpace'] = this.opts.workspace;
    Object.assign(headers, req.headers);
    let body: string | Uint8Array | undefined;
    if (req.form) {
      const form = await encodeForm(req.form);
      headers['Content-Type'] = form.type!;
      body = form.bytes;
    } else if (req.body !== undefined) {
      headers['Content-Type'] = 'application/json; charset=utf-8';
      body = JSON.stringify(req.body);
    }
    const started = performance.now();
    const res = await exchange({ method: req.method, url, headers, body, signal: req.signal, timeoutMs: this.opts.timeoutMs, timeBody: !req.raw }).catch((err: unknown) => {
      throw apiError(err);
    });
    const ms = performance.now() - started;
    const requestId = res.headers.get('x-request-id') ?? undefined;
    if (res.status >= 200 && res.status < 300) {
      this.opts.onResponse?.({ method: req.method, path: req.path, status: res.status, ms, requestId });
      return res;
    }
    let text = '';
    try {
      text = await res.text();
    } catch {
      // body lost: the status says enough
    }
    const err = errorFromBody(res.status, text, res.headers);
    this.opts.onResponse?.({ method: req.method, path: req.path, status: res.status, ms, requestId: err.requestId, code: err.code });
    throw err;
  }
}

/** The client's error for a failed exchange. */
function apiError(err: unknown): unknown {
  if (!(err instanceof NetError)) return err;
  if (err.reason === 'aborted') return new AssistantApiError({ status: 0, code: 'Aborted', message: 'request aborted', cause: err });
  if (err.reason === 'timeout') return new AssistantApiError({ status: 0, code: 'Timeout', message: 'request timed out', cause: err });
  return new AssistantApiError({ status: 0, code: 'NetworkError', message: err.message, refusedBeforeActing: err.refusedBeforeActing, cause: err });
}

/** Resolves after `ms`, or rejects with an Aborted error when the signal fires first. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AssistantApiError({ status: 0, code: 'Aborted', message: 'aborted' }));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AssistantApiError({ status: 0, code: 'Aborted', message: 'aborted' }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
