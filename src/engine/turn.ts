import { codeStepMarkdown } from './format/code-step.js';
import type { ToolCall, ToolResult, TurnEvent, TurnRequest } from '../backends/backend.js';
import type { Logger } from '../log.js';
import { TurnError } from './errors.js';
import type { ToolRegistry } from './tools/registry.js';
import type { ReplySink } from './types.js';

export interface TurnOptions {
  sink: ReplySink;
  registry: ToolRegistry;
  log: Logger;
  signal: AbortSignal;
  conversationKey: string;
  /** Who asked: tools learn the author of the turn's last message. */
  userId?: string;
  /** Everyone whose messages the turn answers, in order. */
  authors?: Array<{ id: string; name: string }>;
  /** Called once the backend's id for the turn is known, before any output (persist it for recovery). */
  onStarted?: (turnId: string) => Promise<void>;
  onToolCall?: (name: string, ok: boolean, ms: number) => void;
  /** Rounds of tool calls before the turn is given up (default 8). */
  maxToolRounds?: number;
}

export interface TurnOutcome {
  turnId?: string;
  text: string;
  /** Images the backend made, to attach beside those linked in the text. */
  images: Array<{ url: string; alt: string }>;
  /** Files the backend made and holds (the code interpreter's charts), attached as they are. */
  attachments: Array<{ name: string; contentType: string; bytes: Uint8Array }>;
  requestId?: string;
  /** ms from the start of the turn to the first streamed text. */
  firstTextMs?: number;
  toolCalls: number;
  inputTokens?: number;
  outputTokens?: number;
}

/**
 * Follows one turn of a backend: streams its text and progress to the sink, shows its tool steps,
 * runs the local functions it asks for (every call answered, each with its timeout; an unknown
 * name gets an error output and a log line), and returns the final text.
 */
export async function executeTurn(
  start: (req: TurnRequest) => AsyncIterable<TurnEvent>,
  o: TurnOptions,
  base: Pick<TurnRequest, 'functions' | 'instructions' | 'additionalInstructions' | 'metadata'>,
): Promise<TurnOutcome> {
  const started = performance.now();
  const maxRounds = o.maxToolRounds ?? 8;
  const out: TurnOutcome = { text: '', images: [], attachments: [], toolCalls: 0 };
  let rounds = 0;
  let streamed = '';
  let done = false;
  const runTools = async (calls: ToolCall[]): Promise<ToolResult[]> => {
    if (++rounds > maxRounds) throw new TurnError('too_many_tool_rounds', 'I got stuck calling tools over and over, so I stopped. Please rephrase or try again.', { runId: out.turnId });
    return Promise.all(
      calls.map(async (c) => {
        const known = o.registry.has(c.name);
        if (!known) o.log.warn({ conversation: o.conversationKey, tool: c.name.slice(0, 64), runId: out.turnId }, 'the model called a function that has no local handler; answered with an error');
        const res = await o.registry.call(c.name, c.arguments, { conversationKey: o.conversationKey, userId: o.userId, authors: o.authors });
        if (res.error) o.log.warn({ conversation: o.conversationKey, tool: c.name, err: res.error }, 'a local tool failed; the model was told it failed, without the details');
        out.toolCalls++;
        o.onToolCall?.(known ? c.name : 'unknown', res.ok, res.ms);
        return { id: c.id, output: res.output };
      }),
    );
  };
  for await (const ev of start({ ...base, signal: o.signal, runTools })) {
    switch (ev.type) {
      case 'started':
        out.turnId = ev.turnId;
        out.requestId ??= ev.requestId;
        await o.onStarted?.(ev.turnId);
        break;
      case 'text':
        out.firstTextMs ??= performance.now() - started;
        streamed += ev.delta;
        await o.sink.text?.(streamed);
        break;
      case 'status':
        await o.sink.status?.(ev.tool ? { kind: 'tool', name: ev.tool } : { kind: 'thinking' });
        break;
      case 'step':
        if (o.sink.code) await o.sink.code({ input: ev.step.input, output: ev.step.output });
        else await o.sink.notice(codeStepMarkdown(ev.step, { attachments: false }).text);
        break;
      case 'image':
        out.images.push({ url: ev.url, alt: ev.alt });
        break;
      case 'attachment':
        out.attachments.push({ name: ev.name, contentType: ev.contentType, bytes: ev.bytes });
        break;
      case 'usage':
        out.inputTokens = (out.inputTokens ?? 0) + (ev.inputTokens ?? 0);
        out.outputTokens = (out.outputTokens ?? 0) + (ev.outputTokens ?? 0);
        break;
      case 'done':
        out.text = ev.text;
        done = true;
        break;
    }
  }
  if (o.signal.aborted) throw o.signal.reason;
  if (!done) throw new TurnError('interrupted', 'I was interrupted while answering. Please ask again.', { runId: out.turnId });
  return out;
}
