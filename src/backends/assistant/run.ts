import { AssistantApiError, deltaText, messageText, type AssistantClient, type Run, type StepToolCall, type StreamEvent, type Tool } from '../../assistant/index.js';
import type { TurnEvent, TurnRequest } from '../backend.js';

export interface RunSpec {
  api: AssistantClient;
  threadId: string;
  assistantId: string;
  /** The run's tools (undefined: the assistant's own, as configured on it). */
  tools?: Tool[];
  /** Follow this run (after a restart) instead of creating one. */
  resumeRunId?: string;
}

type Phase = { kind: 'events'; events: AsyncIterable<StreamEvent> } | { kind: 'poll' };

/**
 * One run on a thread as neutral turn events. Streams text and progress; on `requires_action`
 * hands the function calls to `req.runTools` (every call answered), submits the outputs and goes
 * on streaming. When the stream breaks off, it follows the run by polling, so a cut connection
 * loses nothing. A failed, cancelled or expired run throws an AssistantApiError with code
 * `run_failed`, `run_cancelled` or `run_expired` (and the run's last_error as its message).
 */
export async function* assistantRun(spec: RunSpec, req: TurnRequest): AsyncGenerator<TurnEvent> {
  const { api, threadId } = spec;
  const { signal } = req;
  let runId = spec.resumeRunId ?? '';
  let requestId: string | undefined;
  let streamedText = '';
  let finalText: string | undefined;
  let lastStatus: string | undefined = '';
  const codeShown = new Set<string>();
  /** Files the run made (code interpreter images, image_file content): attached when the run is done. */
  const made = new Set<string>();
  const hooks = { onRequestId: (id: string) => (requestId ??= id) };

  function* noteRunId(id: string): Generator<TurnEvent> {
    if (runId || !id) return;
    runId = id;
    yield { type: 'started', turnId: id, requestId };
  }
  function* status(tool: string | undefined): Generator<TurnEvent> {
    if (tool === lastStatus) return;
    lastStatus = tool;
    yield { type: 'status', tool };
  }
  function* showCode(calls: StepToolCall[] | undefined): Generator<TurnEvent> {
    for (const c of calls ?? []) {
      if (c.type !== 'code_interpreter' || !c.code_interpreter) continue;
      const key = c.id || JSON.stringify(c.code_interpreter);
      if (codeShown.has(key)) continue;
      codeShown.add(key);
      const ci = c.code_interpreter;
      for (const o of ci.outputs ?? []) if (o.type === 'image' && typeof o.image?.file_id === 'string') made.add(o.image.file_id);
      const output =
        ci.output ??
        (ci.outputs ?? [])
          .map((o) => o.logs ?? '')
          .filter(Boolean)
          .join('\n');
      yield { type: 'step', step: { kind: 'code', input: ci.input ?? '', output } };
    }
  }

  yield* status(undefined);
  if (spec.resumeRunId) yield { type: 'started', turnId: spec.resumeRunId };
  const body = {
    assistant_id: spec.assistantId,
    ...(spec.tools ? { tools: spec.tools } : {}),
    ...(req.instructions ? { instructions: req.instructions } : {}),
    metadata: req.metadata ?? null,
    ...(req.additionalInstructions ? { additional_instructions: req.additionalInstructions } : {}),
  };
  let phase: Phase = spec.resumeRunId ? { kind: 'poll' } : { kind: 'events', events: api.runs.stream(threadId, body, signal, hooks) };

  for (;;) {
    let pending: Run | undefined;
    let terminal: Run | undefined;
    if (phase.kind === 'events') {
      try {
        for await (const ev of phase.events) {
          if (ev.event.startsWith('thread.run.') && !ev.event.startsWith('thread.run.step') && ev.event !== 'unknown') {
            const run = ev.data as Run;
            yield* noteRunId(run.id);
            if (ev.event === 'thread.run.requires_action') pending = run;
            else if (['completed', 'failed', 'cancelled', 'expired', 'incomplete'].includes(run.status)) terminal = run;
            if (run.usage && terminal) yield { type: 'usage', inputTokens: run.usage.input_tokens ?? run.usage.prompt_tokens, outputTokens: run.usage.output_tokens ?? run.usage.completion_tokens };
          } else if (ev.event === 'thread.message.delta') {
            const piece = deltaText(ev.data);
            if (piece) {
              streamedText += piece;
              yield { type: 'text', delta: piece };
            }
          } else if (ev.event === 'thread.message.completed') {
            if (ev.data.role === 'assistant') {
              finalText = (finalText ? `${finalText}\n\n` : '') + messageText(ev.data);
              for (const id of madeFileIds(ev.data.content)) made.add(id);
            }
          } else if (ev.event === 'thread.run.step.created' || ev.event === 'thread.run.step.in_progress' || ev.event === 'thread.run.step.delta') {
            const details = ev.event === 'thread.run.step.delta' ? ev.data.delta?.step_details : ev.data.step_details;
            const calls = details && 'tool_calls' in details ? details.tool_calls : undefined;
            const named = calls?.find((c) => c.type || c.function?.name);
            if (named) yield* status(named.function?.name ?? named.type ?? 'tool');
          } else if (ev.event === 'thread.run.step.completed') {
            const d = ev.data.step_details;
            if (d?.type === 'tool_calls') yield* showCode(d.tool_calls);
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
      if (run.status === 'completed') yield* await codeFromSteps(api, threadId, runId, showCode);
    }
    if (pending) {
      const calls = (pending.required_action?.submit_tool_outputs?.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function?.name ?? '', arguments: c.function?.arguments ?? '{}' }));
      for (const c of calls) yield* status(c.name || 'tool');
      let outputs;
      try {
        outputs = await req.runTools(calls);
      } catch (err) {
        // the engine ended the turn (too many rounds, a stop): the run would wait for outputs until it expires
        // best effort: a run left waiting for outputs expires at DashScope by itself; the error that ended the turn is the one to report
        await api.runs.cancel(threadId, runId).catch(() => undefined);
        throw err;
      }
      if (signal.aborted) throw signal.reason;
      yield* status(undefined);
      phase = {
        kind: 'events',
        events: api.runs.submitToolOutputsStream(
          threadId,
          runId,
          outputs.map((o) => ({ tool_call_id: o.id, output: o.output })),
          signal,
          hooks,
        ),
      };
      continue;
    }
    const run = terminal!;
    if (run.status !== 'completed') {
      const code = run.status === 'cancelled' ? 'run_cancelled' : run.status === 'expired' ? 'run_expired' : run.status === 'incomplete' ? 'run_incomplete' : 'run_failed';
      throw new AssistantApiError({ status: 200, code, message: run.last_error ? `${run.last_error.code}: ${run.last_error.message}` : run.status, requestId, tool: refusedTool(run, spec.tools) });
    }
    if (finalText === undefined) finalText = await finalMessageText(api, threadId, runId);
    let notes = '';
    for (const id of made) {
      try {
        const file = await api.files.content(id, MADE_FILE_MAX_BYTES);
        yield { type: 'attachment', name: file.name, contentType: file.contentType, bytes: file.bytes };
      } catch (err) {
        if (signal.aborted) throw signal.reason ?? err;
        // the answer still goes out; the person learns a file is missing
        notes += `\n\n_(The code interpreter made a file I could not fetch: ${err instanceof AssistantApiError ? err.message : 'download failed'}.)_`;
      }
    }
    yield { type: 'done', text: `${(finalText ?? streamedText).trim() || streamedText.trim()}${notes}` };
    return;
  }
}

/** Largest file the code interpreter made that is attached (the platforms' own upload limits are larger). */
const MADE_FILE_MAX_BYTES = 20 * 1024 * 1024;

/**
 * Ids of files in an assistant message's content: OpenAI's `image_file` parts and the `file_path`
 * annotations of its text, which DashScope's SDKs model (no DashScope payload with them was found:
 * docs/dashscope-assistant-api.md §3.3).
 */
function madeFileIds(content: ReadonlyArray<{ type: string }> | undefined): string[] {
  return (content ?? []).flatMap((c) => {
    if (c.type === 'image_file') {
      const id = (c as { image_file?: { file_id?: unknown } }).image_file?.file_id;
      return typeof id === 'string' ? [id] : [];
    }
    if (c.type !== 'text') return [];
    const annotations = (c as { text?: { annotations?: unknown } }).text?.annotations;
    return (Array.isArray(annotations) ? (annotations as Array<{ type?: unknown; file_path?: { file_id?: unknown } }>) : []).flatMap((a) =>
      a?.type === 'file_path' && typeof a.file_path?.file_id === 'string' ? [a.file_path.file_id] : [],
    );
  });
}

/**
 * The tool a failed run names in its last_error, if any: DashScope refuses a plug-in the account
 * has not been approved for (text_to_image must be applied for in the Model Studio console). The
 * exact wording of that refusal is not documented: we look for a tool type in the error text.
 */
function refusedTool(run: Run, tools: Tool[] | undefined): string | undefined {
  const text = `${run.last_error?.code ?? ''} ${run.last_error?.message ?? ''}`.toLowerCase();
  const types = (tools ?? run.tools ?? []).map((t) => t.type).filter((t) => t !== 'function');
  return types.find((t) => text.includes(t.toLowerCase()));
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

async function codeFromSteps(api: AssistantClient, threadId: string, runId: string, show: (calls: StepToolCall[]) => Generator<TurnEvent>): Promise<TurnEvent[]> {
  try {
    const steps = await api.steps.list(threadId, runId, { order: 'asc', limit: 50 });
    const out: TurnEvent[] = [];
    for (const s of steps.data) if (s.step_details?.type === 'tool_calls') out.push(...show(s.step_details.tool_calls));
    return out;
  } catch {
    return []; // steps are a nicety: the answer matters more
  }
}
