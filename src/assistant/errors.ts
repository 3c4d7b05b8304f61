import { ModelError } from '../backends/errors.js';

/**
 * The one error type of the Assistant API client, a ModelError (the backends' common error).
 * `retryable` says whether repeating the same request may succeed (rate limits, server errors,
 * network faults); callers decide whether a repeat is safe for their request.
 */
export class AssistantApiError extends ModelError {
  override readonly name = 'AssistantApiError';
  /** True when the server cannot have acted on the request (refused it, or it never arrived). */
  readonly refusedBeforeActing: boolean;

  constructor(init: { status: number; code: string; message: string; requestId?: string; retryAfter?: number; refusedBeforeActing?: boolean; tool?: string; cause?: unknown }) {
    super(init);
    this.refusedBeforeActing = init.refusedBeforeActing ?? init.status === 429;
  }
}

/** Builds an AssistantApiError from an HTTP error response body (JSON or not). */
export function errorFromBody(status: number, text: string, headers?: { get(name: string): string | null }): AssistantApiError {
  let code = 'Unknown';
  let message = text.slice(0, 300) || `HTTP ${status}`;
  let requestId: string | undefined;
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const inner = (body.error && typeof body.error === 'object' ? body.error : body) as Record<string, unknown>;
    if (typeof inner.code === 'string' && inner.code) code = inner.code;
    if (typeof inner.message === 'string') message = inner.message;
    else if (typeof inner.msg === 'string') message = inner.msg;
    const rid = body.request_id ?? body.requestId ?? inner.request_id;
    if (typeof rid === 'string') requestId = rid;
  } catch {
    // not JSON: keep code Unknown and the text as message
  }
  return new AssistantApiError({
    status,
    code,
    message,
    requestId: requestId ?? headers?.get('x-request-id') ?? undefined,
    retryAfter: parseRetryAfter(headers?.get('retry-after') ?? null),
  });
}

/** Retry-After as seconds (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, (date - Date.now()) / 1000);
}
