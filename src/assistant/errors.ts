/**
 * The one error type of the Assistant API client. `retryable` says whether repeating the same
 * request may succeed (rate limits, server errors, network faults); callers decide whether a
 * repeat is safe for their request.
 */
export class AssistantApiError extends Error {
  override readonly name = 'AssistantApiError';
  /** HTTP status; 0 for a network error or timeout, the `status:` line for a stream error. */
  readonly status: number;
  /** DashScope's error code (`InvalidApiKey`, `Throttling.RateQuota`, …) or one of ours: `NetworkError`, `Timeout`, `Aborted`, `StreamCut`, `Unknown`. */
  readonly code: string;
  readonly requestId: string | undefined;
  readonly retryable: boolean;
  /** Seconds from a Retry-After header, when the server sent one. */
  readonly retryAfter: number | undefined;
  /** True when the server cannot have acted on the request (refused it, or it never arrived). */
  readonly refusedBeforeActing: boolean;

  constructor(init: {
    status: number;
    code: string;
    message: string;
    requestId?: string;
    retryAfter?: number;
    refusedBeforeActing?: boolean;
    cause?: unknown;
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.retryAfter = init.retryAfter;
    this.retryable =
      init.status === 429 ||
      init.status >= 500 ||
      (init.status === 0 && init.code !== 'Aborted') ||
      init.code === 'StreamCut';
    this.refusedBeforeActing = init.refusedBeforeActing ?? init.status === 429;
  }

  /** A log-friendly view without the stack. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, status: this.status, code: this.code, message: this.message, requestId: this.requestId, retryable: this.retryable };
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
