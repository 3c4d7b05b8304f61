/**
 * The one interface the engine speaks to a model backend (DashScope's Assistant API, or the
 * OpenAI-compatible Responses API). Nothing here names a backend's own objects: a backend keeps
 * what it needs in an opaque, JSON-serialisable ConversationState that the engine stores with
 * the conversation, and reports a turn as neutral events.
 *
 * One turn at a time per conversation, queued messages, locks and recovery bookkeeping are the
 * engine's; a backend only answers the calls below. See docs/backends.md.
 */

/** What a backend remembers of one conversation (Assistant: the thread id; Responses: the history). */
export interface ConversationState {
  /** The backend that made it (`assistant`, `responses`). */
  backend: string;
  [field: string]: unknown;
}

/** One message of a turn, as a person wrote it. */
export interface TurnMessage {
  /** The text the model reads (with the speaker's name in group conversations). */
  text: string;
  authorId: string;
  authorName: string;
  /** When it was sent (ms). */
  at: number;
  /** Platform ids kept beside the message where the backend can store them. */
  metadata?: Record<string, string>;
  /** Files shared with the message, bytes as sent (the engine checked them against `acceptsFile`). */
  files?: TurnFile[];
}

export interface TurnFile {
  name: string;
  contentType: string;
  bytes: Uint8Array;
}

/** A function the model may call, run locally by the engine. */
export interface FunctionTool {
  name: string;
  description: string;
  /** JSON schema of the arguments object. */
  parameters: Record<string, unknown>;
}

export interface ToolCall {
  id: string;
  name: string;
  /** The model's arguments, as the JSON text it wrote. */
  arguments: string;
}

export interface ToolResult {
  id: string;
  output: string;
}

/** A tool step to show people (code the interpreter ran and what it printed). */
export interface ToolStep {
  kind: 'code';
  input: string;
  output: string;
}

/** What happens during a turn, in order. */
export type TurnEvent =
  /** The backend's id for this turn is known (persist it: recovery and stop use it). */
  | { type: 'started'; turnId: string; requestId?: string }
  | { type: 'text'; delta: string }
  /** The model is working: thinking, or using the named tool. */
  | { type: 'status'; tool?: string }
  | { type: 'step'; step: ToolStep }
  /** An image the backend made (Responses' text_to_image) to attach to the reply. */
  | { type: 'image'; url: string; alt: string }
  /** A file the backend made and already holds (the code interpreter's chart), to attach to the reply as it is. */
  | { type: 'attachment'; name: string; contentType: string; bytes: Uint8Array }
  | { type: 'usage'; inputTokens?: number; outputTokens?: number }
  /** The turn completed; `text` is the whole answer. */
  | { type: 'done'; text: string };

export interface TurnRequest {
  signal: AbortSignal;
  /** Local functions offered to the model ('none': no tools at all, e.g. meeting minutes). */
  functions: FunctionTool[] | 'none';
  /** Runs the model's function calls locally (every call answered; the engine counts rounds and may throw to end the turn). */
  runTools(calls: ToolCall[]): Promise<ToolResult[]>;
  /** Replaces the assistant's instructions for this turn (meeting minutes). */
  instructions?: string;
  /** Added to the assistant's instructions for this turn (what the person has in view). */
  additionalInstructions?: string;
  /** Short labels a backend may store with the turn (the conversation key). */
  metadata?: Record<string, string>;
}

/** What `stop` achieved: the turn is ending (or ended), or it cannot be stopped and must be waited out. */
export type StopOutcome = 'stopping' | 'ended' | 'abandoned';

/** A turn the last process left in flight: its id if it was known, and when it started. */
export interface InFlight {
  turnId?: string;
  startedAt: number;
}

export interface ModelBackend {
  /** `assistant` or `responses`: also the `backend` of the states it makes. */
  readonly name: string;
  /** The built-in tools and plug-ins the assistant has (for help texts). */
  readonly toolTypes: string[];
  /** Several named assistants (ASSISTANTS_FILE): their names and built-in tools. */
  assistants?(): Array<{ name: string; toolTypes: string[] }>;
  /** The named assistant a conversation belongs to. */
  assistantOf?(state: ConversationState): string;
  /** Why this backend (the named assistant, where there are several) cannot take a file of this type to the model, or undefined when it can. */
  acceptsFile?(contentType: string, name: string, assistant?: string): string | undefined;
  /** A new conversation, with its first messages (the backend may send both in one request). */
  open(conversationKey: string, messages: TurnMessage[]): Promise<ConversationState>;
  /** Adds a turn's messages; returns the state to keep (a state of another backend is taken over). */
  add(state: ConversationState, messages: TurnMessage[]): Promise<ConversationState>;
  /** Runs one turn on what was added. The backend may update `state` in place; the engine saves it when the turn ends. */
  turn(state: ConversationState, req: TurnRequest): AsyncIterable<TurnEvent>;
  /** Stops a turn started here or on another instance. */
  stop(state: ConversationState, turnId: string): Promise<StopOutcome>;
  /** After a crash: follow the turn that was in flight to its end (or run it again where it cannot be followed). */
  resume(state: ConversationState, inFlight: InFlight, req: TurnRequest): AsyncIterable<TurnEvent>;
  /** Nobody waits for a turn left in flight: stop it, or wait until it can no longer write. */
  waitOut(state: ConversationState, inFlight: InFlight): Promise<void>;
  /**
   * What the backend holds outside the state for this conversation (ids of files uploaded for it),
   * as opaque strings: the engine records them and hands them to `release` once the conversation is
   * reset or has expired.
   */
  resourcesOf?(state: ConversationState): string[];
  /** Lets go of resources `resourcesOf` named (deletes the files); returns those it could not (tried again later). One already gone counts as released. */
  release?(resources: string[]): Promise<string[]>;
  /** A label stored with the last message added (meetings reconcile what reached the backend after a crash); undefined where the state itself is the record. */
  lastMark?(state: ConversationState, name: string): Promise<string | undefined>;
}
