import { AssistantApiError } from '../assistant/index.js';
import { LockTimeoutError, StoreUnavailableError } from '../store/index.js';

/** Why a turn ended without an answer, in words for the chat. Never contains ids or secrets. */
export function humanMessage(err: unknown): string {
  if (err instanceof TurnError) return err.userMessage;
  if (err instanceof AssistantApiError) {
    const code = err.code;
    if (err.status === 429 || code.startsWith('Throttling')) return 'I am getting too many requests right now. Please try again in a moment.';
    if (code === 'DataInspectionFailed' || code === 'data_inspection_failed') return 'I can\'t answer that: the model\'s content filter blocked it.';
    if (code === 'InvalidApiKey' || code === 'Arrearage' || code === 'AccessDenied' || err.status === 401 || err.status === 403)
      return 'I can\'t reach my model because of a configuration problem on our side. The operator can see the details in the logs.';
    if (code === 'ModelNotFound') return 'My model is not available. The operator can see the details in the logs.';
    if (code === 'Timeout') return 'That took too long, so I stopped. Please try again.';
    if (err.status === 0 || err.status >= 500 || code === 'StreamCut') return 'I could not reach the model service just now. Please try again shortly.';
    return 'Something went wrong while answering. Please try again.';
  }
  if (err instanceof StoreUnavailableError) return 'My memory store is not answering right now. Please try again in a moment.';
  if (err instanceof LockTimeoutError) return 'I am still busy with an earlier message here. Please try again in a moment.';
  return 'Something went wrong while answering. Please try again.';
}

/** A turn failure that already knows what to tell people. */
export class TurnError extends Error {
  override readonly name = 'TurnError';
  constructor(
    readonly code: 'run_failed' | 'run_timeout' | 'run_cancelled' | 'run_expired' | 'too_many_tool_rounds' | 'interrupted',
    readonly userMessage: string,
    readonly detail?: { runId?: string; lastError?: { code: string; message: string } | null },
  ) {
    super(`${code}${detail?.lastError ? `: ${detail.lastError.code} ${detail.lastError.message}` : ''}`);
  }
}

/** A failed run's last_error in words for people. */
export function runFailureMessage(lastError?: { code: string; message: string } | null): string {
  const code = lastError?.code ?? '';
  if (/rate_limit|Throttling/i.test(code)) return 'I am getting too many requests right now. Please try again in a moment.';
  if (/DataInspection/i.test(code)) return 'I can\'t answer that: the model\'s content filter blocked it.';
  return 'Something went wrong while answering. Please try again.';
}
