import OpenAI from 'openai';
import { messageText, type AssistantClient } from '../../assistant/index.js';
import type { Logger } from '../../log.js';
import type { ConversationState, FunctionTool, InFlight, ModelBackend, StopOutcome, ToolCall, ToolResult, TurnEvent, TurnMessage, TurnRequest } from '../backend.js';
import { ModelError } from '../errors.js';
import { toModelError } from './errors.js';
import { fitHistory, toInput, withoutImages, type HistoryItem } from './history.js';
import { responsesAccepts, user } from './input.js';
import type { ImageSynthesis } from './images.js';

export { ImageSynthesis } from './images.js';

/** What the Responses backend keeps of one conversation: its own history, and the server's id for it while that lasts. */
export interface ResponsesState extends ConversationState {
  backend: 'responses';
  history: HistoryItem[];
  /** The last response of this conversation the server stored (it forgets after 7 days). */
  lastResponseId?: string;
  lastResponseAt?: number;
  /** How many history items the server holds through `lastResponseId`: the rest is sent as input. */
  chained?: number;
}

export interface ResponsesSettings {
  model: string;
  instructions: string;
  /** ASSISTANT_TOOLS: `text_to_image` (a local function over image synthesis), `code_interpreter`, `web_search`. */
  tools: string[];
  /** Characters of history replayed when the server cannot chain (RESPONSES_HISTORY_CHARS). */
  historyChars: number;
}

/** The server keeps a response 7 days; chaining is tried only within this age. */
const CHAIN_MAX_AGE_MS = 6.5 * 24 * 3_600_000;
const BUILT_IN: Record<string, unknown> = { code_interpreter: { type: 'code_interpreter' }, web_search: { type: 'web_search' } };

const TEXT_TO_IMAGE: FunctionTool = {
  name: 'text_to_image',
  description: 'Draw an image from a detailed description. The image is attached to your reply automatically; describe it in words, do not repeat its URL.',
  parameters: {
    type: 'object',
    properties: {
      prompt: { type: 'string', description: 'What to draw, in detail.' },
      size: { type: 'string', description: 'Width*height in pixels, e.g. 1024*1024 (default) or 1280*720.' },
      negative_prompt: { type: 'string', description: 'What to keep out of the image.' },
    },
    required: ['prompt'],
  },
};

/**
 * What Threadline reads of the Responses stream. DashScope sends OpenAI's event names; the fields
 * are typed as optional because DashScope's are not all documented (reference §1.4), and every one
 * is checked where it is read.
 */
interface StreamEvent {
  type: string;
  delta?: unknown;
  response?: WireResponse;
  item?: WireItem;
  error?: WireError;
}
interface WireResponse {
  id?: string;
  status?: string;
  output?: WireItem[];
  usage?: { input_tokens?: number; output_tokens?: number };
  error?: WireError;
}
interface WireItem {
  type?: string;
  id?: string;
  call_id?: string;
  name?: string;
  arguments?: string;
  content?: Array<{ type?: string; text?: string }>;
  code?: string;
  input?: string;
  output?: string;
  outputs?: Array<{ logs?: string }>;
}
interface WireError {
  code?: string;
  message?: string;
}

function stateOf(state: ConversationState): ResponsesState {
  if (state.backend !== 'responses' || !Array.isArray(state.history)) throw new TypeError(`not a Responses conversation (${state.backend})`);
  return state as ResponsesState;
}

/**
 * Model Studio's OpenAI-compatible Responses API behind the backend seam, through the official
 * `openai` client (DashScope's quirks are in docs/dashscope-responses.md). The conversation's
 * history lives in our store: a turn chains on `previous_response_id` while the server still has
 * it, and replays the stored history (newest turns within a character budget) when the server
 * answers 400 "Not found previous_response_id". Function calls run locally; `text_to_image` is a
 * local function over DashScope image synthesis; `code_interpreter` and `web_search` are the
 * server's built-in tools. There is no server-side cancel: stop aborts the stream, and since the
 * API is synchronous nothing of the turn survives it.
 */
export class ResponsesBackend implements ModelBackend {
  readonly name = 'responses';
  private readonly builtIns: unknown[];

  constructor(
    private readonly client: OpenAI,
    private readonly settings: ResponsesSettings,
    private readonly deps: { log: Logger; images?: ImageSynthesis; assistantApi?: AssistantClient },
  ) {
    this.builtIns = settings.tools.filter((t) => BUILT_IN[t]).map((t) => BUILT_IN[t]);
    const unknown = settings.tools.filter((t) => !BUILT_IN[t] && t !== 'text_to_image');
    if (unknown.length) deps.log.warn({ tools: unknown }, 'these ASSISTANT_TOOLS have no Responses API equivalent and are not offered (Assistant API plug-ins)');
  }

  get toolTypes(): string[] {
    return this.settings.tools.filter((t) => BUILT_IN[t] || (t === 'text_to_image' && this.deps.images));
  }

  private get drawing(): boolean {
    return !!this.deps.images && this.settings.tools.includes('text_to_image');
  }

  acceptsFile(contentType: string): string | undefined {
    return responsesAccepts(contentType);
  }

  async open(_key: string, messages: TurnMessage[]): Promise<ConversationState> {
    return { backend: 'responses', history: messages.map(user) } satisfies ResponsesState;
  }

  async add(state: ConversationState, messages: TurnMessage[]): Promise<ConversationState> {
    const s = state.backend === 'responses' ? stateOf(state) : await this.takeOver(state);
    s.history.push(...messages.map(user));
    return s;
  }

  /** A conversation the Assistant backend kept: its thread's messages become our history where the Assistant API still answers. */
  private async takeOver(state: ConversationState): Promise<ResponsesState> {
    const fresh: ResponsesState = { backend: 'responses', history: [] };
    const threadId = state.backend === 'assistant' && typeof state.threadId === 'string' ? state.threadId : undefined;
    if (!threadId || !this.deps.assistantApi) return fresh;
    try {
      const items: HistoryItem[] = [];
      let after: string | undefined;
      for (let page = 0; page < 20; page++) {
        const res = await this.deps.assistantApi.messages.list(threadId, { order: 'asc', limit: 100, after });
        for (const m of res.data ?? []) {
          const text = messageText(m);
          if (text) items.push({ type: 'message', role: m.role === 'assistant' ? 'assistant' : 'user', text });
        }
        if (!res.has_more || !res.last_id) break;
        after = res.last_id;
      }
      fresh.history = fitHistory(items, this.settings.historyChars);
      this.deps.log.info({ threadId, items: fresh.history.length }, 'conversation taken over from the Assistant API with its history');
    } catch (err) {
      this.deps.log.warn({ err, threadId }, 'could not read the Assistant thread of a conversation; it goes on without its history');
    }
    return fresh;
  }

  private tools(req: TurnRequest): unknown[] | undefined {
    if (req.functions === 'none') return undefined;
    const local = [...req.functions.filter((f) => f.name !== TEXT_TO_IMAGE.name), ...(this.drawing ? [TEXT_TO_IMAGE] : [])];
    // the flat function shape: the chat-style nested `function: {}` is refused with 400
    return [...this.builtIns, ...local.map((f) => ({ type: 'function', name: f.name, description: f.description, parameters: f.parameters }))];
  }

  private instructions(req: TurnRequest): string {
    const base = req.instructions ?? this.settings.instructions;
    return req.additionalInstructions ? `${base}\n\n${req.additionalInstructions}` : base;
  }

  async *turn(state: ConversationState, req: TurnRequest): AsyncIterable<TurnEvent> {
    const s = stateOf(state);
    const tools = this.tools(req);
    let startedId: string | undefined;
    const texts: string[] = [];
    yield { type: 'status' }; // thinking: the typing indicator or 👀 shows before the first word
    for (;;) {
      const response = yield* this.respond(s, req, tools, (id) => (startedId ? undefined : (startedId = id)), texts.length > 0);
      const output: WireItem[] = Array.isArray(response.output) ? response.output : [];
      const text = output
        .filter((o) => o.type === 'message')
        .flatMap((o) => (Array.isArray(o.content) ? o.content : []))
        .filter((c: { type?: string }) => c.type === 'output_text')
        .map((c: { text?: string }) => c.text ?? '')
        .join('');
      const calls: ToolCall[] = output
        .filter((o) => o.type === 'function_call')
        .map((o) => ({ id: String(o.call_id ?? o.id ?? ''), name: String(o.name ?? ''), arguments: String(o.arguments ?? '{}') }));
      if (response.usage) yield { type: 'usage', inputTokens: response.usage.input_tokens, outputTokens: response.usage.output_tokens };
      if (text) {
        texts.push(text);
        s.history.push({ type: 'message', role: 'assistant', text });
      }
      s.lastResponseId = String(response.id);
      s.lastResponseAt = Date.now();
      if (calls.length === 0) {
        s.chained = s.history.length;
        const incomplete = response.status === 'incomplete';
        // keep what is stored within the budget too: what cannot be replayed is of no use
        // answered: shared images are not kept at length (the server has them while it keeps the response)
        const kept = fitHistory(withoutImages(s.history), this.settings.historyChars);
        s.chained -= s.history.length - kept.length;
        s.history = kept;
        yield { type: 'done', text: texts.join('\n\n').trim() + (incomplete ? '\n\n_(The answer was cut short.)_' : '') };
        return;
      }
      for (const c of calls) s.history.push({ type: 'function_call', call_id: c.id, name: c.name, arguments: c.arguments });
      s.chained = s.history.length;
      for (const c of calls) yield { type: 'status', tool: c.name };
      const drawn = calls.filter((c) => c.name === TEXT_TO_IMAGE.name && this.drawing);
      const mine = calls.filter((c) => !drawn.includes(c));
      const results: ToolResult[] = [];
      for (const c of drawn) results.push(yield* this.draw(c, req.signal));
      if (mine.length) {
        try {
          results.push(...(await req.runTools(mine)));
        } catch (err) {
          // the engine ended the turn (too many rounds): the calls stay unanswered, so the next turn replays without them
          s.history.splice(s.history.length - calls.length);
          s.chained = undefined;
          throw err;
        }
      }
      if (req.signal.aborted) throw req.signal.reason;
      for (const c of calls) {
        const r = results.find((x) => x.id === c.id);
        s.history.push({ type: 'function_call_output', call_id: c.id, output: r?.output ?? JSON.stringify({ error: 'no output' }) });
      }
      yield { type: 'status' };
    }
  }

  /** One request with its stream; chains when it can, replays the history when the server forgot it. Returns the completed response. */
  private async *respond(s: ResponsesState, req: TurnRequest, tools: unknown[] | undefined, onId: (id: string) => string | undefined, more: boolean): AsyncGenerator<TurnEvent, WireResponse> {
    const fresh = s.lastResponseId && s.chained !== undefined && s.chained <= s.history.length && Date.now() - (s.lastResponseAt ?? 0) < CHAIN_MAX_AGE_MS;
    let chain = !!fresh;
    for (;;) {
      const input = chain ? toInput(s.history.slice(s.chained)) : toInput(fitHistory(s.history, this.settings.historyChars));
      const body = {
        model: this.settings.model,
        instructions: this.instructions(req),
        input,
        ...(tools ? { tools } : {}),
        ...(chain ? { previous_response_id: s.lastResponseId } : {}),
        store: true,
        stream: true,
      };
      let stream: AsyncIterable<StreamEvent>;
      try {
        stream = (await this.client.responses.create(body as never, { signal: req.signal })) as unknown as AsyncIterable<StreamEvent>;
      } catch (err) {
        const e = toModelError(err);
        if (chain && e.status === 400 && /previous_response_id/i.test(e.message)) {
          // expired (7 days), or another region: answer from our own history instead
          this.deps.log.info({ responseId: s.lastResponseId }, 'the Responses API forgot this conversation: replaying the stored history');
          chain = false;
          s.chained = undefined;
          continue;
        }
        throw e;
      }
      let separated = !more;
      let done: WireResponse | undefined;
      try {
        for await (const ev of stream) {
          if (ev.type === 'response.created' && ev.response?.id) {
            const id = onId(String(ev.response.id));
            if (id) yield { type: 'started', turnId: id };
          } else if (ev.type === 'response.output_text.delta' && typeof ev.delta === 'string' && ev.delta) {
            if (!separated) {
              separated = true;
              yield { type: 'text', delta: '\n\n' };
            }
            yield { type: 'text', delta: ev.delta };
          } else if (ev.type === 'response.output_item.added') {
            const item = ev.item ?? {};
            if (item.type === 'function_call') yield { type: 'status', tool: String(item.name ?? 'tool') };
            else if (typeof item.type === 'string' && item.type.endsWith('_call')) yield { type: 'status', tool: item.type.replace(/_call$/, '') };
          } else if (ev.type === 'response.output_item.done' && ev.item?.type === 'code_interpreter_call') {
            // The fields of DashScope's code_interpreter_call are not documented (reference §1.4): OpenAI's shape is read.
            const item = ev.item;
            const output = (Array.isArray(item.outputs) ? item.outputs : [])
              .map((o) => o.logs ?? '')
              .filter(Boolean)
              .join('\n');
            yield { type: 'step', step: { kind: 'code', input: String(item.code ?? item.input ?? ''), output: output || String(item.output ?? '') } };
          } else if (ev.type === 'response.completed' || ev.type === 'response.incomplete') {
            done = ev.response ?? {};
          } else if (ev.type === 'response.failed' || ev.type === 'error') {
            // HTTP 200 and then a failure: never judge a stream by its status
            const error: WireError = ev.response?.error ?? ev.error ?? (ev as WireError);
            throw new ModelError({ status: 200, code: String(error?.code || 'run_failed'), message: String(error?.message ?? 'the response failed'), requestId: ev.response?.id });
          }
        }
      } catch (err) {
        if (req.signal.aborted) throw req.signal.reason ?? err;
        throw toModelError(err);
      }
      if (req.signal.aborted) throw req.signal.reason;
      if (!done) throw new ModelError({ status: 0, code: 'StreamCut', message: 'the response stream ended before the response completed' });
      return done;
    }
  }

  /** text_to_image: the image is made here and attached to the reply; the model gets a short result, never an error's details. */
  private async *draw(c: ToolCall, signal: AbortSignal): AsyncGenerator<TurnEvent, ToolResult> {
    let args: { prompt?: unknown; size?: unknown; negative_prompt?: unknown } = {};
    try {
      args = JSON.parse(c.arguments || '{}') as typeof args;
    } catch {
      return { id: c.id, output: JSON.stringify({ error: 'invalid arguments: expected a JSON object with a prompt' }) };
    }
    const prompt = typeof args.prompt === 'string' ? args.prompt.trim().slice(0, 2_000) : '';
    if (!prompt) return { id: c.id, output: JSON.stringify({ error: 'a prompt is required' }) };
    try {
      const url = await this.deps.images!.generate(prompt, {
        size: typeof args.size === 'string' ? args.size : undefined,
        negativePrompt: typeof args.negative_prompt === 'string' ? args.negative_prompt : undefined,
        signal,
      });
      yield { type: 'image', url, alt: prompt.slice(0, 200) };
      return { id: c.id, output: JSON.stringify({ status: 'done', note: 'The image is attached to your reply.' }) };
    } catch (err) {
      if (signal.aborted) throw signal.reason ?? err;
      const e = toModelError(err);
      this.deps.log.warn({ err: e, tool: 'text_to_image', model: this.deps.images!.model }, 'image synthesis failed');
      const blocked = /DataInspection/i.test(e.code);
      return { id: c.id, output: JSON.stringify({ error: blocked ? 'the image request was blocked by the content filter' : 'the image could not be made right now' }) };
    }
  }

  async stop(): Promise<StopOutcome> {
    // Responses are synchronous (no background mode): a turn lives only in the stream of the
    // process running it, and aborting that stream ends it. Nothing can be cancelled from here.
    return 'ended';
  }

  async *resume(state: ConversationState, _inFlight: InFlight, req: TurnRequest): AsyncIterable<TurnEvent> {
    // The stream died with the last process and cannot be followed: answer the turn again from the
    // stored history, which has the turn's messages (calls left without outputs are dropped).
    const s = stateOf(state);
    while (s.history.length && s.history[s.history.length - 1].type === 'function_call') s.history.pop();
    if (s.chained !== undefined && s.chained > s.history.length) s.chained = undefined;
    yield* this.turn(s, req);
  }

  async waitOut(): Promise<void> {
    // nothing runs on the server after our stream is gone
  }
}

export { dashscopeFetch, toModelError } from './errors.js';
export { responsesAccepts } from './input.js';
