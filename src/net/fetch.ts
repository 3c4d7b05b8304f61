import { NetError, encodeForm, exchange, type ExchangeOptions } from './exchange.js';

/**
 * The part of fetch that Slack's WebClient and Bolt's `respond` use (a POST with a buffered
 * body, a buffered answer), over undici's request API. Given to Bolt as `clientOptions.fetch`:
 * every reply makes four to six Web API calls, and through fetch each one builds a Request, a
 * response stream and AbortSignal chains that the garbage collector then has to find. What it
 * returns is a real `Response` over the bytes already read, so the WebClient may use any of it.
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
    received = await exchange({ method: (init.method ?? 'GET').toUpperCase() as ExchangeOptions['method'], url, headers, body: body.bytes, signal: init.signal ?? undefined, timeBody: true });
  } catch (err) {
    throw fetchError(err, init.signal);
  }
  const location = received.status >= 300 && received.status < 400 ? received.headers.get('location') : null;
  if (location && init.redirect !== 'manual') {
    await received.discard();
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
  for (const [name, value] of Object.entries(received.rawHeaders)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.append(name, v);
  }
  // a null-body status (204, 205, 304) may carry no body in a Response
  const empty = received.status === 204 || received.status === 205 || received.status === 304;
  const res = new Response(empty ? null : bytes, { status: received.status, statusText: received.statusText, headers: out });
  // the constructor cannot set `url`, and the WebClient reads it (admin.analytics.getFile)
  Object.defineProperty(res, 'url', { value: url.href });
  return res;
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
