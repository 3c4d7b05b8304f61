import { ModelError } from '../backends/errors.js';
import { LockTimeoutError, StoreUnavailableError } from '../store/index.js';

/** Why a turn ended without an answer, in words for the chat. Never contains ids or secrets. */
export function humanMessage(err: unknown): string {
  if (err instanceof TurnError) return err.userMessage;
  if (err instanceof ModelError) {
    const code = err.code;
    if (err.tool) return `I can't use one of my tools (${err.tool}) right now. The operator can see why in the logs.`;
    if (code === 'run_cancelled') return 'The answer was cancelled.';
    if (code === 'run_expired') return 'That took too long and expired. Please try again.';
    if (code === 'run_failed' || code === 'run_incomplete') return runFailureMessage(err.message);
    if (err.status === 429 || code.startsWith('Throttling') || /rate_limit/i.test(code)) return 'I am getting too many requests right now. Please try again in a moment.';
    if (code === 'DataInspectionFailed' || code === 'data_inspection_failed') return "I can't answer that: the model's content filter blocked it.";
    if (code === 'InvalidApiKey' || code === 'invalid_api_key' || code === 'Arrearage' || code === 'AccessDenied' || err.status === 401 || err.status === 403)
      return "I can't reach my model because of a configuration problem on our side. The operator can see the details in the logs.";
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
    readonly code: 'too_many_tool_rounds' | 'interrupted',
    readonly userMessage: string,
    readonly detail?: { runId?: string },
  ) {
    super(code);
  }
}

/** A failed turn's error text (`code: message`) in words for people. */
export function runFailureMessage(lastError?: string): string {
  const text = lastError ?? '';
  if (/rate_limit|Throttling/i.test(text)) return 'I am getting too many requests right now. Please try again in a moment.';
  if (/DataInspection/i.test(text)) return "I can't answer that: the model's content filter blocked it.";
  return 'Something went wrong while answering. Please try again.';
}

/** For a turn DashScope failed because of a tool: the operator's log fields, naming the tool and what to do. */
export function refusedToolLine(err: unknown): { tool: string; code: string; requestId?: string; fix: string } | undefined {
  if (!(err instanceof ModelError) || !err.tool) return undefined;
  return {
    tool: err.tool,
    code: err.code,
    requestId: err.requestId,
    fix:
      err.tool === 'text_to_image'
        ? 'apply for the text_to_image plug-in in the Model Studio console (Assistant API), or use DASHSCOPE_API=responses, or remove it from ASSISTANT_TOOLS'
        : `enable ${err.tool} for this account in the Model Studio console, or remove it from ASSISTANT_TOOLS`,
  };
}
