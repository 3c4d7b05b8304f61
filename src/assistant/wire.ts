import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { AssistantApiError } from './errors.js';

/**
 * One HTTP exchange with DashScope over node:http. Not fetch: an open run stream through fetch
 * holds about 36 KB of web-stream, Request/Response and AbortSignal machinery, node:http about
 * 9 KB, and Threadline keeps one stream open per conversation in flight (see bench/scale.ts).
 */

// Idle sockets are dropped after 4 s (as undici does) or sooner when the server's Keep-Alive
// header says so, so that a write rarely meets a socket the server has just closed.
const agents = {
  'http:': new http.Agent({ keepAlive: true, scheduling: 'lifo', timeout: 4_000 }),
  'https:': new https.Agent({ keepAlive: true, scheduling: 'lifo', timeout: 4_000 }),
};

export interface Exchange {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  signal?: AbortSignal;
  timeoutMs: number;
  /** Keep the timeout armed until the body has been read (JSON), or stop it at the headers (streams). */
  timeBody: boolean;
}

/** Response headers, read the way fetch's Headers are. */
export interface HeaderView {
  get(name: string): string | null;
}

/** A response whose body is a Node stream of bytes. */
export interface WireResponse {
  readonly status: number;
  readonly headers: HeaderView;
  readonly body: AsyncIterable<Uint8Array>;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

/** Sends one request; resolves when the response headers arrive. Errors are AssistantApiErrors. */
export function exchange(x: Exchange): Promise<WireResponse> {
  return new Promise((resolve, reject) => {
    const lib = x.url.protocol === 'https:' ? https : http;
    const agent = x.url.protocol === 'https:' ? agents['https:'] : agents['http:'];
    if (x.signal?.aborted) return reject(aborted());
    const headers: Record<string, string | number> = { ...x.headers };
    if (x.body !== undefined) headers['Content-Length'] = typeof x.body === 'string' ? Buffer.byteLength(x.body) : x.body.byteLength;
    const req = lib.request(x.url, { method: x.method, headers, agent });
    let why: 'timeout' | 'aborted' | undefined;
    let answered = false;
    const cleanup = (): void => {
      clearTimeout(timer);
      x.signal?.removeEventListener('abort', onAbort);
    };
    function onAbort(): void {
      why ??= 'aborted';
      req.destroy();
    }
    const timer = setTimeout(() => {
      why ??= 'timeout';
      req.destroy();
    }, x.timeoutMs);
    x.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (cause: NodeJS.ErrnoException) => {
      cleanup();
      if (!answered) reject(failure(cause, why));
    });
    req.once('response', (res) => {
      answered = true;
      if (!x.timeBody) clearTimeout(timer);
      res.once('close', cleanup);
      resolve(new NodeResponse(res, () => why));
    });
    req.end(x.body);
  });
}

class NodeResponse implements WireResponse {
  readonly status: number;
  readonly headers: HeaderView;

  constructor(
    private readonly res: IncomingMessage,
    private readonly why: () => 'timeout' | 'aborted' | undefined,
  ) {
    this.status = res.statusCode ?? 0;
    this.headers = new NodeHeaders(res);
  }

  get body(): AsyncIterable<Uint8Array> {
    return this.res;
  }

  async text(): Promise<string> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of this.res) chunks.push(chunk as Buffer);
    } catch (cause) {
      const why = this.why();
      if (why) throw why === 'timeout' ? timedOut() : aborted();
      throw new AssistantApiError({ status: 0, code: 'NetworkError', message: 'the response broke off', cause });
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
}

class NodeHeaders implements HeaderView {
  constructor(private readonly res: IncomingMessage) {}

  get(name: string): string | null {
    const v = this.res.headers[name.toLowerCase()];
    if (v === undefined) return null;
    return Array.isArray(v) ? v.join(', ') : v;
  }
}

function aborted(cause?: unknown): AssistantApiError {
  return new AssistantApiError({ status: 0, code: 'Aborted', message: 'request aborted', cause });
}

function timedOut(cause?: unknown): AssistantApiError {
  return new AssistantApiError({ status: 0, code: 'Timeout', message: 'request timed out', cause });
}

function failure(cause: NodeJS.ErrnoException, why: 'timeout' | 'aborted' | undefined): AssistantApiError {
  if (why === 'aborted') return aborted(cause);
  if (why === 'timeout') return timedOut(cause);
  const code = cause.code;
  // Nothing reached the server. A reset is not counted: the server may have read the request.
  const refused = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN';
  return new AssistantApiError({ status: 0, code: 'NetworkError', message: `network error${code ? ` (${code})` : ''}`, refusedBeforeActing: refused, cause });
}
