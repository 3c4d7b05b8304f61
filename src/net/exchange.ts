import { STATUS_CODES, type IncomingHttpHeaders } from 'node:http';
import { Agent, request } from 'undici';

/**
 * One HTTP exchange through undici's request API, for the requests Threadline makes on every turn
 * (DashScope's native API, Slack's Web API). Not fetch: an open run stream through fetch holds
 * about 36 KB of web-stream, Request/Response and AbortSignal machinery; undici.request's Node
 * stream about as much as plain node:http (see README, Performance: the scale benchmark).
 *
 * A dispatcher of our own, never the global one: Node's fetch, discord.js (undici 6) and this
 * package (undici 7) would otherwise share whichever global dispatcher was made first.
 */
const dispatcher = new Agent({
  // Idle sockets are dropped after 4 s, or sooner when the server's Keep-Alive header says so,
  // so that a write rarely meets a socket the server has just closed.
  keepAliveTimeout: 4_000,
  // the deadlines are ours (ExchangeOptions.timeoutMs); a run's stream may be quiet for minutes
  headersTimeout: 0,
  bodyTimeout: 0,
});

export interface ExchangeOptions {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';
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
    return this.code === 'ECONNREFUSED' || this.code === 'ENOTFOUND' || this.code === 'EAI_AGAIN' || this.code === 'UND_ERR_CONNECT_TIMEOUT';
  }
}

/** Response headers, read the way fetch's Headers are. */
export interface HeaderView {
  get(name: string): string | null;
}

type Body = AsyncIterable<Buffer> & { destroy(err?: Error): void; dump(): Promise<void> };

/** A response whose body is a Node stream of bytes; failures while reading it are NetErrors. */
export class Received {
  readonly statusText: string;
  readonly headers: HeaderView;

  constructor(
    readonly status: number,
    /** Header names in lower case, as Node keeps them. */
    readonly rawHeaders: IncomingHttpHeaders,
    private readonly stream: Body,
    private readonly why: () => 'timeout' | 'aborted' | undefined,
  ) {
    this.statusText = STATUS_CODES[status] ?? '';
    this.headers = new NodeHeaders(rawHeaders);
  }

  get body(): AsyncIterable<Uint8Array> {
    return this.stream;
  }

  /** Reads the body to its end and lets it go (the socket goes back to the pool). */
  async discard(): Promise<void> {
    await this.stream.dump().catch(() => undefined); // nothing of it is wanted, whatever happens to it
  }

  async bytes(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of this.stream) chunks.push(chunk);
    } catch (cause) {
      throw netError(cause, this.why());
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
  constructor(private readonly headers: IncomingHttpHeaders) {}

  get(name: string): string | null {
    const v = this.headers[name.toLowerCase()];
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
export async function exchange(x: ExchangeOptions): Promise<Received> {
  if (x.signal?.aborted) throw new NetError('aborted', undefined, x.signal.reason);
  // One deadline for the whole exchange (or up to the headers, for streams): undici's headersTimeout
  // for the headers, then a timer for what is left of it over the body (undici's bodyTimeout counts
  // idle time between chunks, which a server trickling bytes would never trip). No AbortController
  // per request: the caller's signal goes to undici as it is.
  const started = performance.now();
  let why: 'timeout' | 'aborted' | undefined;
  const reason = (cause: unknown) => why ?? (x.signal?.aborted ? 'aborted' : (cause as { code?: string })?.code === 'UND_ERR_HEADERS_TIMEOUT' ? 'timeout' : undefined);
  let res;
  try {
    res = await request(x.url, { method: x.method, headers: x.headers, body: x.body, signal: x.signal, dispatcher, headersTimeout: x.timeoutMs ?? 0 });
  } catch (cause) {
    throw netError(cause, reason(cause));
  }
  const body = res.body as unknown as Body;
  if (x.timeBody && x.timeoutMs !== undefined) {
    const timer = setTimeout(
      () => {
        why = 'timeout';
        body.destroy(new Error('request timed out'));
      },
      Math.max(0, x.timeoutMs - (performance.now() - started)),
    );
    res.body.once('close', () => clearTimeout(timer));
  }
  return new Received(res.statusCode, res.headers, body, () => reason(undefined));
}

/** undici's errors as NetErrors: the socket's code (ECONNREFUSED, …) where there is one. */
function netError(cause: unknown, why: 'timeout' | 'aborted' | undefined): NetError {
  if (cause instanceof NetError) return cause;
  const e = cause as { code?: string; cause?: { code?: string } };
  return new NetError(why ?? 'network', e?.cause?.code ?? e?.code, cause);
}
