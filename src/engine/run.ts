import {
  AssistantApiError,
  deltaText,
  messageText,
  type AssistantClient,
  type Run,
  type StepToolCall,
  type StreamEvent,
  type Tool,
} from '../assistant/index.js';
import { TurnError, runFailureMessage } from './errors.js';
import type { ToolRegistry } from './tools/registry.js';
import type { CodeStep, ReplySink } from './types.js';

export interface RunRequest {
  api: AssistantClient;
  threadId: string;
  assistantId: string;
  tools: Tool[];
  registry: ToolRegistry;
  sink: ReplySink;
  signal: AbortSignal;
  conversationKey: string;
  userId?: string;
  /** Called once the run id is known, before any output (persist it for recovery). */
  onRunId?: (runId: string) => Promise<void>;
  /** Continue an existing run (after a restart) instead of creating one. */
  resumeRunId?: string;
  additionalInstructions?: string;
  metadata?: Record<string, string>;
  maxToolRounds?: number;
  onToolCall?: (name: string, ok: boolean, ms: number) => void;
}

export interface RunOutcome {
  runId: string;
  text: string;
  requestId?: string;
  /** ms from the start of the run to the first streamed text. */
  firstTextMs?: number;
  toolCalls: number;
  streamed: boolean;
}

type Phase = { kind: 'events'; events: AsyncIterable<StreamEvent> } | { kind: 'poll' };

/**
 * Runs the assistant once on a thread and returns its final text. Streams text and progress to
 * the sink; on `requires_action` runs the local function tools (all of them, each with its
 * timeout), submits every output and goes on streaming, up to a cap of rounds. When the stream
 * breaks off, it follows the run by polling, so a cut connection loses nothing.
 */
export async function executeRun(req: RunRequest): Promise<RunOutcome> {
  const { api, threadId, sink, signal } = req;
  const started = performance.now();
  const maxRounds = req.maxToolRounds ?? 8;
  let runId = req.resumeRunId ?? '';
  let requestId: string | undefined;
  let streamedText = '';
  let finalText: string | undefined;
  let firstTextMs: number | undefined;
  let toolCalls = 0;
  let rounds = 0;
  let lastStatus = '';
  let streamed = false;
  const codeShown = new Set<string>();
  const hooks = { onRequestId: (id: string) => (requestId ??= id) };

  const noteRunId = async (id: string) => {
    if (runId || !id) return;
    runId = id;
    await req.onRunId?.(id);
  };
  const status = async (name: string) => {
    if (name === lastStatus) return;
    lastStatus = name;
    await sink.status(name === 'thinking' ? { kind: 'thinking' } : { kind: 'tool', name });
  };
  const showCode = async (calls: StepToolCall[] | undefined) => {
    for (const c of calls ?? []) {
      if (c.type !== 'code_interpreter' || !c.code_interpreter) continue;
      const key = c.id || JSON.stringify(c.code_interpreter);
      if (codeShown.has(key)) continue;
      codeShown.add(key);
      const ci = c.code_interpreter;
      const output = ci.output ?? (ci.outputs ?? []).map((o) => o.logs ?? '').filter(Boolean).join('\n');
      const step: CodeStep = { input: ci.input ?? '', output };
      await sink.code(step);
    }
  };

  await status('thinking');
  let phase: Phase = req.resumeRunId
    ? { kind: 'poll' }
    : {
        kind: 'events',
        events: api.runs.stream(
          threadId,
          { assistant_id: req.assistantId, tools: req.tools, metadata: req.metadata ?? null, ...(req.additionalInstructions ? { additional_instructions: req.additionalInstructions } : {}) },
          signal,
          hooks,
        ),
      };

  for (;;) {
    let pending: Run | undefined;
    let terminal: Run | undefined;
    if (phase.kind === 'events') {
      streamed = true;
      try {
        for await (const ev of phase.events) {
          if (ev.event.startsWith('thread.run.') && !ev.event.startsWith('thread.run.step') && ev.event !== 'unknown') {
            const run = ev.data as Run;
            await noteRunId(run.id);
            if (ev.event === 'thread.run.requires_action') pending = run;
            else if (['completed', 'failed', 'cancelled', 'expired', 'incomplete'].includes(run.status)) terminal = run;
          } else if (ev.event === 'thread.message.delta') {
            const piece = deltaText(ev.data);
            if (piece) {
              firstTextMs ??= performance.now() - started;
              streamedText += piece;
              await sink.text(streamedText);
            }
          } else if (ev.event === 'thread.message.completed') {
            if (ev.data.role === 'assistant') finalText = (finalText ? `${finalText}\n\n` : '') + messageText(ev.data);
          } else if (ev.event === 'thread.run.step.created' || ev.event === 'thread.run.step.in_progress' || ev.event === 'thread.run.step.delta') {
            const details = ev.event === 'thread.run.step.delta' ? ev.data.delta?.step_details : ev.data.step_details;
            const calls = details && 'tool_calls' in details ? details.tool_calls : undefined;
            const name = calls?.find((c) => c.type || c.function?.name);
            if (name) await status(name.function?.name ?? name.type ?? 'tool');
          } else if (ev.event === 'thread.run.step.completed') {
            const d = ev.data.step_details;
            if (d?.type === 'tool_calls') await showCode(d.tool_calls);
          }
        }
      } catch (err) {
        if (signal.aborted) throw signal.reason ?? err;
        const cut = err instanceof AssistantApiError && (err.code === 'StreamCut' || err.code === 'NetworkError');
        if (!cut || !runId) throw err;
        finalText = undefined; // the stream's text may be partial: read the message instead
      }
    }
    if (!pending && !terminal) {
      if (!runId) throw new AssistantApiError({ status: 0, code: 'StreamCut', message: 'the run stream ended before the run had an id' });
      const run = await api.runs.wait(threadId, runId, { signal });
      if (run.status === 'requires_action') pending = run;
      else terminal = run;
      if (run.status === 'completed') await showCodeFromSteps(api, threadId, runId, showCode);
    }
    if (pending) {
      if (++rounds > maxRounds) {
        await api.runs.cancel(threadId, runId).catch(() => undefined);
        throw new TurnError('too_many_tool_rounds', 'I got stuck calling tools over and over, so I stopped. Please rephrase or try again.', { runId });
      }
      const calls = pending.required_action?.submit_tool_outputs?.tool_calls ?? [];
      for (const c of calls) await status(c.function?.name ?? 'tool');
      const outputs = await Promise.all(
        calls.map(async (c) => {
          const res = await req.registry.call(c.function?.name ?? '', c.function?.arguments ?? '{}', { conversationKey: req.conversationKey, userId: req.userId });
          toolCalls++;
          req.onToolCall?.(c.function?.name ?? '', res.ok, res.ms);
          return { tool_call_id: c.id, output: res.output };
        }),
      );
      if (signal.aborted) throw signal.reason;
      await status('thinking');
      phase = { kind: 'events', events: api.runs.submitToolOutputsStream(threadId, runId, outputs, signal, hooks) };
      continue;
    }
    const run = terminal!;
    if (run.status !== 'completed') {
      const code = run.status === 'cancelled' ? 'run_cancelled' : run.status === 'expired' ? 'run_expired' : 'run_failed';
      const message = run.status === 'cancelled' ? 'The answer was cancelled.' : run.status === 'expired' ? 'That took too long and expired. Please try again.' : runFailureMessage(run.last_error);
      throw new TurnError(code, message, { runId, lastError: run.last_error });
    }
    if (finalText === undefined) finalText = await finalMessageText(api, threadId, runId);
    return { runId, text: (finalText ?? streamedText).trim() || streamedText.trim(), requestId, firstTextMs, toolCalls, streamed };
  }
}

/** The assistant's reply text for a run, read from the thread (newest first). */
export async function finalMessageText(api: AssistantClient, threadId: string, runId: string): Promise<string> {
  const page = await api.messages.list(threadId, { order: 'desc', limit: 20 });
  const mine = page.data.filter((m) => m.role === 'assistant' && (m.run_id === runId || !m.run_id));
  return mine
    .reverse()
    .map((m) => messageText(m))
    .join('\n\n');
}

async function showCodeFromSteps(api: AssistantClient, threadId: string, runId: string, show: (calls: StepToolCall[]) => Promise<void>): Promise<void> {
  try {
    const steps = await api.steps.list(threadId, runId, { order: 'asc', limit: 50 });
    for (const s of steps.data) if (s.step_details?.type === 'tool_calls') await show(s.step_details.tool_calls);
  } catch {
    // steps are a nicety: the answer matters more
  }
}
