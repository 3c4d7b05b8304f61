/**
 * The error every backend throws: the engine turns it into a short message for the chat and a
 * structured log line, and never shows `message` to people (it may carry service details).
 */
export class ModelError extends Error {
  override readonly name: string = 'ModelError';
  /** HTTP status; 0 for a network error or timeout. */
  readonly status: number;
  /** The service's error code (`InvalidApiKey`, `Throttling.RateQuota`, …) or ours (`NetworkError`, `Timeout`, `Aborted`, `StreamCut`, `run_failed`, …). */
  readonly code: string;
  readonly requestId: string | undefined;
  readonly retryable: boolean;
  /** Seconds from a Retry-After header, when the server sent one. */
  readonly retryAfter: number | undefined;
  /** A tool the service refused (an unapproved plug-in), when the error names one. */
  readonly tool: string | undefined;

  constructor(init: { status: number; code: string; message: string; requestId?: string; retryAfter?: number; retryable?: boolean; tool?: string; cause?: unknown }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.retryAfter = init.retryAfter;
    this.tool = init.tool;
    this.retryable = init.retryable ?? (init.status === 429 || init.status >= 500 || (init.status === 0 && init.code !== 'Aborted') || init.code === 'StreamCut');
  }

  /** A log-friendly view without the stack. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, status: this.status, code: this.code, message: this.message, requestId: this.requestId, retryable: this.retryable, tool: this.tool };
  }
}

/** How a turn ended when it did not complete (a failed, cancelled or expired run), as a ModelError code. */
export type TurnEndCode = 'run_failed' | 'run_cancelled' | 'run_expired' | 'run_incomplete';
