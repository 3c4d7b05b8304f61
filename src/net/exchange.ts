import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';

/**
 * One HTTP exchange over node:http, for the requests Threadline makes on every turn (DashScope,
 * Slack's Web API). Not fetch: an open run stream through fetch holds about 36 KB of web-stream,
 * Request/Response and AbortSignal machinery, node:http about 9 KB (see bench/scale.ts).
 */

// Idle sockets are dropped after 4 s (as undici does) or sooner when the server's Keep-Alive
// header says so, so that a write rarely meets a socket the server has just closed.
const agents = {
  http: new http.Agent({ keepAlive: true, scheduling: 'lifo', timeout: 4_000 }),
  https: new https.Agent({ keepAlive: true, scheduling: 'lifo', timeout: 4_000 }),
};

export interface ExchangeOptions {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  signal?: AbortSignal;
  /** No timeout when absent. */
  timeoutMs?: number;
  /** Keep the timeout armed until the body has been read, or stop it at the headers (streams). */
  timeBody: boolean;
}

/** Why an exchange failed: its timeout, its signal, or the network (`code` from the socket). */
export class NetError extends Error {
  override readonly name = 'NetError';
  constructor(
    readonly reason: 'timeout' | 'aborted' | 'network',
    readonly code: string | undefined,
    cause?: unknown,
  ) {
    super(reason === 'network' ? `network error${code ? ` (${code})` : ''}` : `request ${reason === 'timeout' ? 'timed out' : 'aborted'}`, { cause });
  }

  /** Nothing reached the server. A reset is not counted: the server may have read the request. */
  get refusedBeforeActing(): boolean {
    return this.code === 'ECONNREFUSED' || this.code === 'ENOTFOUND' || this.code === 'EAI_AGAIN';
  }
}

/** Response headers, read the way fetch's Headers are. */
export interface HeaderView {
  get(name: string): string | null;
}

/** A response whose body is a Node stream of bytes; failures while reading it are NetErrors. */
export class Received {
  readonly status: number;
  readonly statusText: string;
  readonly headers: HeaderView;

  constructor(
    readonly message: IncomingMessage,
    private readonly why: () => 'timeout' | 'aborted' | undefined,
  ) {
    this.status = message.statusCode ?? 0;
    this.statusText = message.statusMessage ?? '';
    this.headers = new NodeHeaders(message);
  }

  get body(): AsyncIterable<Uint8Array> {
    return this.message;
  }

  async bytes(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of this.message) chunks.push(chunk as Buffer);
    } catch (cause) {
      throw new NetError(this.why() ?? 'network', (cause as NodeJS.ErrnoException).code, cause);
    }
    return Buffer.concat(chunks);
  }

  async text(): Promise<string> {
    return (await this.bytes()).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
}

class NodeHeaders implements HeaderView {
  constructor(private readonly message: IncomingMessage) {}

  get(name: string): string | null {
    const v = this.message.headers[name.toLowerCase()];
    if (v === undefined) return null;
    return Array.isArray(v) ? v.join(', ') : v;
  }
}

/** A multipart form or a blob as bytes with its content type: fetch's Response knows how to write them, and uploads are rare enough to buffer. */
export async function encodeForm(body: FormData | Blob): Promise<{ bytes: Uint8Array; type?: string }> {
  const encoded = new Response(body);
  return { bytes: new Uint8Array(await encoded.arrayBuffer()), type: encoded.headers.get('content-type') ?? undefined };
}

/** Sends one request; resolves when the response headers arrive, rejects with a NetError. */
export function exchange(x: ExchangeOptions): Promise<Received> {
  return new Promise((resolve, reject) => {
    if (x.signal?.aborted) return reject(new NetError('aborted', undefined, x.signal.reason));
    const tls = x.url.protocol === 'https:';
    const headers: Record<string, string | number> = { ...x.headers };
    if (x.body !== undefined) headers['Content-Length'] = typeof x.body === 'string' ? Buffer.byteLength(x.body) : x.body.byteLength;
    const req = (tls ? https : http).request(x.url, { method: x.method, headers, agent: tls ? agents.https : agents.http });
    let why: 'timeout' | 'aborted' | undefined;
    let answered = false;
    const stop = (reason: 'timeout' | 'aborted'): void => {
      why ??= reason;
      req.destroy();
    };
    const onAbort = (): void => stop('aborted');
    const timer = x.timeoutMs === undefined ? undefined : setTimeout(stop, x.timeoutMs, 'timeout');
    const cleanup = (): void => {
      clearTimeout(timer);
      x.signal?.removeEventListener('abort', onAbort);
    };
    x.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (cause: NodeJS.ErrnoException) => {
      cleanup();
      if (!answered) reject(new NetError(why ?? 'network', cause.code, cause));
    });
    req.once('response', (message) => {
      answered = true;
      if (!x.timeBody) clearTimeout(timer);
      message.once('close', cleanup);
      resolve(new Received(message, () => why));
    });
    req.end(x.body);
  });
}
