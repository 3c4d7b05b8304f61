/**
 * Wire types of the DashScope Assistant API (see shared/reference/dashscope-assistant-api.md).
 * Timestamps are milliseconds and may be `null` or `-1`; empty ids arrive as `""`.
 */

export type Timestamp = number | null;
export type Metadata = Record<string, string> | null;

export interface ListParams {
  limit?: number;
  order?: 'asc' | 'desc';
  after?: string;
  before?: string;
}

export interface ListPage<T> {
  object: 'list';
  data: T[];
  first_id?: string;
  last_id?: string;
  has_more?: boolean;
  request_id?: string;
}

export interface Deleted {
  id: string;
  object: string;
  deleted: boolean;
  request_id?: string;
}

export interface FunctionDefinition {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

export interface PluginAuth {
  type: 'user_http';
  user_token: string;
}

/** A tool on an assistant or a run: built-ins, plug-ins (`{type: "<plugin_id>"}`) and functions. */
export type Tool = { type: 'function'; function: FunctionDefinition } | { type: string; auth?: PluginAuth; [k: string]: unknown };

export interface Assistant {
  id: string;
  object: 'assistant';
  created_at: Timestamp;
  model: string;
  name?: string | null;
  description?: string | null;
  instructions?: string | null;
  tools: Tool[];
  file_ids?: string[];
  metadata?: Metadata;
  request_id?: string;
  [k: string]: unknown;
}

export interface AssistantCreateParams {
  model: string;
  name?: string;
  description?: string;
  instructions?: string;
  tools?: Tool[];
  file_ids?: string[];
  metadata?: Metadata;
  top_p?: number;
  top_k?: number;
  temperature?: number;
  max_tokens?: number;
}

export type AssistantUpdateParams = Partial<AssistantCreateParams>;

export interface Thread {
  id: string;
  object: 'thread';
  created_at: Timestamp;
  metadata?: Metadata;
  request_id?: string;
}

export interface MessageCreateParams {
  role?: 'user';
  content: string;
  file_ids?: string[];
  metadata?: Metadata;
}

export interface ThreadCreateParams {
  messages?: MessageCreateParams[];
  metadata?: Metadata;
}

export interface TextContent {
  type: 'text';
  text: { value: string; annotations?: unknown[] };
}

export type MessageContent = TextContent | { type: string; [k: string]: unknown };

export interface Message {
  id: string;
  object: 'thread.message';
  created_at: Timestamp;
  thread_id: string;
  assistant_id?: string;
  run_id?: string;
  role: 'user' | 'assistant';
  content: MessageContent[];
  file_ids?: string[];
  metadata?: Metadata;
  status?: string | Record<string, never>;
  request_id?: string;
  [k: string]: unknown;
}

export type RunStatus = 'queued' | 'in_progress' | 'requires_action' | 'cancelling' | 'cancelled' | 'failed' | 'completed' | 'expired' | 'incomplete';

export const TERMINAL_RUN_STATUSES: ReadonlySet<RunStatus> = new Set(['completed', 'failed', 'cancelled', 'expired', 'incomplete']);

export interface FunctionToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string; output?: string | null };
}

export interface RequiredAction {
  type: 'submit_tool_outputs';
  submit_tool_outputs: { tool_calls: FunctionToolCall[] };
}

export interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  input_tokens?: number;
  output_tokens?: number;
}

export interface Run {
  id: string;
  object: 'thread.run';
  created_at: Timestamp;
  thread_id: string;
  assistant_id: string;
  status: RunStatus;
  required_action?: RequiredAction | null;
  last_error?: { code: string; message: string } | null;
  model?: string;
  instructions?: string | null;
  tools?: Tool[];
  metadata?: Metadata;
  usage?: Usage | null;
  started_at?: Timestamp;
  expires_at?: Timestamp;
  cancelled_at?: Timestamp;
  failed_at?: Timestamp;
  completed_at?: Timestamp;
  request_id?: string;
  [k: string]: unknown;
}

export interface RunCreateParams {
  assistant_id: string;
  model?: string;
  instructions?: string;
  additional_instructions?: string;
  tools?: Tool[];
  metadata?: Metadata;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  max_tokens?: number;
  [k: string]: unknown;
}

export interface ThreadAndRunParams extends RunCreateParams {
  thread?: ThreadCreateParams;
}

export interface ToolOutput {
  tool_call_id?: string;
  output: string;
}

/** A tool call inside a run step; code interpreter and plug-in shapes are not verified on the wire. */
export interface StepToolCall {
  id?: string;
  index?: number;
  type?: string;
  function?: { name?: string; arguments?: string; output?: string | null };
  /** `outputs[].image.file_id`: OpenAI's shape, which the SDKs model; no DashScope payload with it was found (docs/dashscope-assistant-api.md §4). */
  code_interpreter?: { input?: string; output?: string; outputs?: Array<{ type: string; logs?: string; image?: { file_id?: string } }> };
  [k: string]: unknown;
}

export interface RunStep {
  id: string;
  object: 'thread.run.step';
  created_at: Timestamp;
  run_id: string;
  thread_id: string;
  assistant_id?: string;
  type: 'message_creation' | 'tool_calls';
  status: string;
  step_details: { type: 'message_creation'; message_creation: { message_id: string } } | { type: 'tool_calls'; tool_calls: StepToolCall[] };
  last_error?: { code: string; message: string } | null;
  request_id?: string;
  [k: string]: unknown;
}

export interface UploadedFile {
  file_id: string;
  name: string;
}

/** Events parsed from a streaming run. Unknown event names pass through with their raw data. */
export type StreamEvent =
  | { event: 'thread.created'; data: Thread }
  | { event: `thread.run.${'created' | 'queued' | 'in_progress' | 'requires_action' | 'completed' | 'failed' | 'cancelling' | 'cancelled' | 'expired' | 'incomplete'}`; data: Run }
  | { event: `thread.run.step.${'created' | 'in_progress' | 'completed' | 'failed' | 'cancelled' | 'expired'}`; data: RunStep }
  | { event: 'thread.run.step.delta'; data: RunStepDelta }
  | { event: `thread.message.${'created' | 'in_progress' | 'completed' | 'incomplete'}`; data: Message }
  | { event: 'thread.message.delta'; data: MessageDelta }
  | { event: 'error'; data: { code?: string; message?: string; request_id?: string }; status?: number }
  | { event: 'unknown'; name: string; data: unknown };

export interface MessageDelta {
  id: string;
  object: 'thread.message.delta';
  /** Normalised: the wire sends an array of parts, the docs an object; both become this array. */
  delta: { role?: string; content: Array<{ index?: number; type: string; text?: { value: string } }> };
}

export interface RunStepDelta {
  id: string;
  object: 'thread.run.step.delta';
  delta: { step_details?: { type?: string; tool_calls?: StepToolCall[] } };
}
