import { NetError, encodeForm, exchange } from './exchange.js';

/**
 * The part of fetch that Slack's WebClient and Bolt's `respond` use (a POST with a buffered
 * body, a buffered answer), over node:http. Given to Bolt as `clientOptions.fetch`: every reply
 * makes four to six Web API calls, and through fetch each one builds web streams, a Request, a
 * dispatcher and AbortSignal chains that the garbage collector then has to find.
 *
 * Anything outside that part (a streamed request body, the rest of a redirect) is handed to the
 * real fetch, so callers never see a difference except in memory.
 */
export async function nodeFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  if (typeof input !== 'string' && !(input instanceof URL)) return fetch(input, init);
  const body = await encodeBody(init.body);
  if (body === UNSUPPORTED) return fetch(input, init);
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, name) => (headers[name] = value));
  if (body.type && !headers['content-type']) headers['content-type'] = body.type;
  const url = new URL(input);
  let received;
  try {
    received = await exchange({ method: init.method ?? 'GET', url, headers, body: body.bytes, signal: init.signal ?? undefined, timeBody: true });
  } catch (err) {
    throw fetchError(err, init.signal);
  }
  const location = received.status >= 300 && received.status < 400 ? received.headers.get('location') : null;
  if (location && init.redirect !== 'manual') {
    received.message.resume();
    if (init.redirect === 'error') throw new TypeError('fetch failed', { cause: new Error('unexpected redirect') });
    // follow it with the real fetch, from the new address: this request has been sent once already
    const keep = received.status === 307 || received.status === 308;
    const next = new URL(location, url);
    // credentials stay with the origin they were meant for: a redirect elsewhere gets none
    let headers = init.headers;
    if (next.origin !== url.origin) {
      const h = new Headers(init.headers);
      for (const name of ['authorization', 'cookie', 'proxy-authorization']) h.delete(name);
      headers = h;
    }
    return fetch(next, { ...init, headers, method: keep ? init.method : 'GET', body: keep ? init.body : undefined });
  }
  let bytes: Buffer;
  try {
    bytes = await received.bytes();
  } catch (err) {
    throw fetchError(err, init.signal);
  }
  const out = new Headers();
  const raw = received.message.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) out.append(raw[i], raw[i + 1]);
  return new BufferedResponse(url.href, received.status, received.statusText, out, bytes) as unknown as Response;
}

const UNSUPPORTED = Symbol('unsupported');

async function encodeBody(body: RequestInit['body']): Promise<{ bytes?: string | Uint8Array; type?: string } | typeof UNSUPPORTED> {
  if (body === undefined || body === null) return {};
  if (typeof body === 'string') return { bytes: body, type: 'text/plain;charset=UTF-8' };
  if (body instanceof URLSearchParams) return { bytes: body.toString(), type: 'application/x-www-form-urlencoded;charset=UTF-8' };
  if (body instanceof Uint8Array) return { bytes: body };
  if (body instanceof ArrayBuffer) return { bytes: new Uint8Array(body) };
  if (body instanceof FormData || body instanceof Blob) return encodeForm(body);
  return UNSUPPORTED;
}

/** What fetch rejects with: the signal's reason when aborted, otherwise TypeError('fetch failed'). */
function fetchError(err: unknown, signal: AbortSignal | null | undefined): unknown {
  if (!(err instanceof NetError)) return err;
  if (err.reason === 'aborted' && signal?.aborted) return signal.reason;
  return new TypeError('fetch failed', { cause: err });
}

/** A response already read into memory, with the reading methods of fetch's Response. */
class BufferedResponse {
  readonly ok: boolean;
  readonly redirected = false;
  readonly type = 'basic';
  bodyUsed = false;

  constructor(
    readonly url: string,
    readonly status: number,
    readonly statusText: string,
    readonly headers: Headers,
    private readonly bytes: Buffer,
  ) {
    this.ok = status >= 200 && status < 300;
  }

  get body(): ReadableStream<Uint8Array> {
    return new Blob([this.bytes]).stream();
  }

  async text(): Promise<string> {
    this.bodyUsed = true;
    return this.bytes.toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    this.bodyUsed = true;
    return this.bytes.buffer.slice(this.bytes.byteOffset, this.bytes.byteOffset + this.bytes.byteLength) as ArrayBuffer;
  }

  async blob(): Promise<Blob> {
    this.bodyUsed = true;
    return new Blob([this.bytes], { type: this.headers.get('content-type') ?? '' });
  }

  clone(): BufferedResponse {
    return new BufferedResponse(this.url, this.status, this.statusText, this.headers, this.bytes);
  }
}
