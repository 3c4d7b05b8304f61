import OpenAI from 'openai';
import { ModelError } from '../errors.js';
/** The openai client's errors as ModelErrors (status, DashScope's code, request id). */
export function toModelError(err: unknown): ModelError {
  if (err instanceof ModelError) return err;
  if (err instanceof OpenAI.APIUserAbortError) return new ModelError({ status: 0, code: 'Aborted', message: 'request aborted', cause: err });
  if (err instanceof OpenAI.APIConnectionTimeoutError) return new ModelError({ status: 0, code: 'Timeout', message: 'request timed out', cause: err });
  if (err instanceof OpenAI.APIConnectionError) return new ModelError({ status: 0, code: 'NetworkError', message: err.message, cause: err });
  if (err instanceof OpenAI.APIError) {
    const body = (err.error ?? {}) as { code?: string; message?: string };
    const code: unknown = err.code;
    const retryAfter = Number((err.headers as Headers | undefined)?.get('retry-after'));
    const status: unknown = err.status;
    return new ModelError({
      status: typeof status === 'number' ? status : 0,
      code: typeof code === 'string' ? code : (body.code ?? (status === 429 ? 'Throttling' : 'Unknown')),
      message: String(body.message ?? err.message),
      requestId: err.requestID ?? undefined,
      retryAfter: Number.isFinite(retryAfter) ? retryAfter : undefined,
      cause: err,
    });
  }
  return new ModelError({ status: 0, code: 'Unknown', message: (err as Error)?.message ?? String(err), cause: err });
}

/**
 * fetch for the openai client: DashScope answers errors with a flat body (`{code, message,
 * request_id}`, reference §1.9) where the client expects `{error: {…}}`, and would lose the code
 * and message. This rewrites a flat JSON error body into the nested shape; anything else passes.
 */
export const dashscopeFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  if (res.ok || !(res.headers.get('content-type') ?? '').includes('json')) return res;
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers });
  }
  if (body && typeof body === 'object' && !('error' in body)) {
    const flat = body as { code?: string; message?: string; request_id?: string };
    body = { error: { code: flat.code, message: flat.message, type: flat.code }, request_id: flat.request_id };
  }
  const headers = new Headers(res.headers);
  headers.delete('content-length');
  const rid = (body as { request_id?: string }).request_id;
  if (rid && !headers.has('x-request-id')) headers.set('x-request-id', rid);
  return new Response(JSON.stringify(body), { status: res.status, statusText: res.statusText, headers });
};
