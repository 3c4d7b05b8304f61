import { AssistantApiError, TERMINAL_RUN_STATUSES, type AssistantClient, type Tool } from '../../assistant/index.js';
import { silentLogger, type Logger } from '../../log.js';
import type { ConversationState, InFlight, ModelBackend, StopOutcome, TurnMessage, TurnRequest, TurnEvent } from '../backend.js';
import type { ReadyAssistant } from './bootstrap.js';
import { assistantRun } from './run.js';

export { ensureAssistant, type AssistantSettings, type ReadyAssistant } from './bootstrap.js';

interface AssistantState extends ConversationState {
  backend: 'assistant';
  threadId: string;
  /** Files uploaded to DashScope's file store for this conversation: deleted when it is reset. */
  fileIds?: string[];
}

function threadOf(state: ConversationState): string {
  if (state.backend !== 'assistant' || typeof state.threadId !== 'string') throw new TypeError(`not an Assistant API conversation (${state.backend})`);
  return state.threadId;
}

/**
 * The Assistant API behind the backend seam: a thread per conversation, Message.create for each
 * message, one streamed run per turn (tool calls submitted back to it), and the API's own ways
 * to stop a run (cancel where the deployment has it, else wait it out) and to find a run a dead
 * process had started (runs.list).
 *
 * @example const backend = new AssistantBackend(api, await ensureAssistant(api, store, settings))
 */
export class AssistantBackend implements ModelBackend {
  readonly name = 'assistant';

  constructor(
    private readonly api: AssistantClient,
    private readonly assistant: ReadyAssistant,
    private readonly log: Logger = silentLogger,
  ) {}

  get toolTypes(): string[] {
    return this.assistant.toolTypes;
  }

  get assistantId(): string {
    return this.assistant.id;
  }

  async open(conversationKey: string, messages: TurnMessage[]): Promise<ConversationState> {
    const wired = [];
    for (const m of messages) wired.push(await this.wire(m));
    const thread = await this.api.threads.create({ messages: wired, metadata: { conversation: conversationKey.slice(0, 128) } });
    const fileIds = wired.flatMap((w) => w.file_ids ?? []);
    return { backend: 'assistant', threadId: thread.id, ...(fileIds.length ? { fileIds } : {}) } satisfies AssistantState;
  }

  async add(state: ConversationState, messages: TurnMessage[]): Promise<ConversationState> {
    if (state.backend !== 'assistant') {
      // A conversation the Responses backend kept: its history cannot be replayed as assistant
      // messages (Message.create takes the user role only), so it goes on in a new thread.
      return this.open(typeof state.conversationKey === 'string' ? state.conversationKey : 'migrated', messages);
    }
    const threadId = threadOf(state);
    for (const m of messages) {
      const w = await this.wire(m);
      await this.api.messages.create(threadId, w);
      if (w.file_ids) state.fileIds = [...(Array.isArray(state.fileIds) ? (state.fileIds as string[]) : []), ...w.file_ids];
    }
    return state;
  }

  /**
   * A message as the Assistant API takes it: shared files are uploaded to DashScope's file store
   * first (POST /files, the Python SDK's Files.upload) and named by id in `file_ids`, where the
   * code interpreter can read them.
   */
  private async wire(m: TurnMessage) {
    const fileIds: string[] = [];
    for (const f of m.files ?? []) fileIds.push((await this.api.files.upload({ bytes: f.bytes, filename: f.name, contentType: f.contentType })).file_id);
    return { ...wireText(m), ...(fileIds.length ? { file_ids: fileIds } : {}) };
  }

  /** The run's tools: the assistant's own, whole, with local functions added (a local one wins over the assistant's of the same name). */
  private tools(req: TurnRequest): Tool[] | undefined {
    // Meeting minutes: no `tools` at all, so the run uses the assistant's own. `tools: []` on a run is
    // not documented to mean "no tools" (only on an assistant update), so it is never sent.
    if (req.functions === 'none') return undefined;
    const local = new Set(req.functions.map((f) => f.name));
    const own = this.assistant.runTools.filter((t) => !(t.type === 'function' && 'function' in t && local.has((t.function as { name: string }).name)));
    return [...own, ...req.functions.map((f) => ({ type: 'function', function: { name: f.name, description: f.description, parameters: f.parameters } }))];
  }

  turn(state: ConversationState, req: TurnRequest): AsyncIterable<TurnEvent> {
    return assistantRun({ api: this.api, threadId: threadOf(state), assistantId: this.assistant.id, tools: this.tools(req) }, req);
  }

  async stop(state: ConversationState, turnId: string): Promise<StopOutcome> {
    const threadId = threadOf(state);
    try {
      await this.api.runs.cancel(threadId, turnId);
      return 'stopping';
    } catch {
      // Refused: either it is already ending (someone cancelled it first) or cancel is not supported
      // (the 2026 docs list no cancel endpoint): then the run must be waited out.
      const run = await this.api.runs.retrieve(threadId, turnId).catch((err: unknown) => {
        this.log.warn({ err, runId: turnId }, 'could not read the run being stopped; it is waited out');
        return undefined;
      });
      if (run && (run.status === 'cancelling' || TERMINAL_RUN_STATUSES.has(run.status))) return 'ended';
      return 'abandoned';
    }
  }

  /** Files uploaded for the conversation (the thread itself is left to DashScope's own expiry). */
  resourcesOf(state: ConversationState): string[] {
    return state.backend === 'assistant' && Array.isArray(state.fileIds) ? (state.fileIds as string[]).map((id) => `file:${id}`) : [];
  }

  async release(resources: string[]): Promise<string[]> {
    const kept: string[] = [];
    for (const r of resources) {
      if (!r.startsWith('file:')) continue;
      const id = r.slice('file:'.length);
      try {
        await this.api.files.delete(id);
      } catch (err) {
        if (err instanceof AssistantApiError && err.status === 404) continue; // gone already
        this.log.warn({ err, fileId: id }, 'could not delete a shared file at DashScope; trying again later');
        kept.push(r);
      }
    }
    return kept;
  }

  /** The run of an interrupted turn: the one recorded, or the newest on the thread when the process died before saving its id. */
  private async find(threadId: string, inFlight: InFlight): Promise<string | undefined> {
    if (inFlight.turnId) return inFlight.turnId;
    const latest = (
      await this.api.runs.list(threadId, { order: 'desc', limit: 1 }).catch((err: unknown) => {
        // no run found: the interrupted messages are answered by a new run
        this.log.warn({ err, threadId }, 'could not list the runs of an interrupted turn');
        return undefined;
      })
    )?.data[0];
    return latest && (latest.created_at ?? 0) >= inFlight.startedAt - 5_000 ? latest.id : undefined;
  }

  async *resume(state: ConversationState, inFlight: InFlight, req: TurnRequest): AsyncIterable<TurnEvent> {
    const threadId = threadOf(state);
    const runId = await this.find(threadId, inFlight);
    // No run was created before the crash: the messages are on the thread, so answer them now.
    yield* assistantRun({ api: this.api, threadId, assistantId: this.assistant.id, tools: this.tools(req), resumeRunId: runId }, req);
  }

  async waitOut(state: ConversationState, inFlight: InFlight): Promise<void> {
    const threadId = threadOf(state);
    const runId = await this.find(threadId, inFlight);
    if (!runId) return;
    // Best effort, both: a run that cannot be cancelled is waited for, and one still going after a
    // minute expires at DashScope by itself; the next turn's run create reports it if it overlaps.
    await this.api.runs.cancel(threadId, runId).catch((err: unknown) => this.log.debug({ err, runId }, 'cancel refused while waiting out a run'));
    await this.api.runs.wait(threadId, runId, { signal: AbortSignal.timeout(60_000) }).catch((err: unknown) => this.log.warn({ err, runId }, 'a run left in flight did not end within a minute'));
  }

  async lastMark(state: ConversationState, name: string): Promise<string | undefined> {
    const last = (await this.api.messages.list(threadOf(state), { order: 'desc', limit: 1 })).data[0];
    return last?.metadata?.[name];
  }
}

/** Text and metadata as the Assistant API takes a user message. */
function wireText(m: TurnMessage) {
  return { role: 'user' as const, content: m.text, metadata: { ...m.metadata, author_id: m.authorId.slice(0, 64) } };
}
