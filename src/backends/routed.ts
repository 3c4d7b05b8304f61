import type { ConversationState, InFlight, ModelBackend, StopOutcome, TurnEvent, TurnMessage, TurnRequest } from './backend.js';

/** A named assistant's backend, and the local functions it may use (undefined: all). */
export interface NamedBackend {
  backend: ModelBackend;
  functions?: string[];
}

/**
 * Several named assistants behind the one backend interface the engine knows. A new conversation
 * goes to the assistant `choose` names for its key (routes in ASSISTANTS_FILE, or a channel's
 * choice); its state then carries that name (`assistant`), so the conversation keeps its assistant
 * until it is reset, whatever the routes say later. Each assistant sees only the local functions
 * it is allowed, and a call to any other is refused before it runs.
 *
 * @example new RoutedBackend(new Map([['default', { backend }]]), async () => 'default')
 */
export class RoutedBackend implements ModelBackend {
  readonly name = 'routed';

  constructor(
    private readonly named: Map<string, NamedBackend>,
    private readonly choose: (conversationKey: string) => Promise<string>,
  ) {}

  assistants(): Array<{ name: string; toolTypes: string[] }> {
    return [...this.named.entries()].map(([name, n]) => ({ name, toolTypes: n.backend.toolTypes }));
  }

  get toolTypes(): string[] {
    return this.entry('default').backend.toolTypes;
  }

  /** The built-in tools of the assistant a new conversation at `key` would get. */
  async toolTypesFor(key: string): Promise<string[]> {
    return this.entry(await this.choose(key)).backend.toolTypes;
  }

  /** The name of the assistant a conversation belongs to. */
  assistantOf(state: ConversationState): string {
    return typeof state.assistant === 'string' && this.named.has(state.assistant) ? state.assistant : 'default';
  }

  acceptsFile(contentType: string, name: string, assistant?: string): string | undefined {
    if (assistant) return this.entry(assistant).backend.acceptsFile?.(contentType, name);
    // which conversation is not known here: refuse only what no assistant can read
    const answers = [...this.named.values()].map((n) => n.backend.acceptsFile?.(contentType, name));
    return answers.every((a) => a !== undefined) ? answers[0] : undefined;
  }

  async open(conversationKey: string, messages: TurnMessage[]): Promise<ConversationState> {
    const name = await this.choose(conversationKey);
    const state = await this.entry(name).backend.open(conversationKey, messages);
    return { ...state, assistant: name };
  }

  async add(state: ConversationState, messages: TurnMessage[]): Promise<ConversationState> {
    const name = this.assistantOf(state);
    return { ...(await this.entry(name).backend.add(state, messages)), assistant: name };
  }

  turn(state: ConversationState, req: TurnRequest): AsyncIterable<TurnEvent> {
    const e = this.entry(this.assistantOf(state));
    return e.backend.turn(state, this.allowed(e, req));
  }

  stop(state: ConversationState, turnId: string): Promise<StopOutcome> {
    return this.entry(this.assistantOf(state)).backend.stop(state, turnId);
  }

  resume(state: ConversationState, inFlight: InFlight, req: TurnRequest): AsyncIterable<TurnEvent> {
    const e = this.entry(this.assistantOf(state));
    return e.backend.resume(state, inFlight, this.allowed(e, req));
  }

  waitOut(state: ConversationState, inFlight: InFlight): Promise<void> {
    return this.entry(this.assistantOf(state)).backend.waitOut(state, inFlight);
  }

  async lastMark(state: ConversationState, name: string): Promise<string | undefined> {
    return this.entry(this.assistantOf(state)).backend.lastMark?.(state, name);
  }

  resourcesOf(state: ConversationState): string[] {
    const name = this.assistantOf(state);
    return (this.entry(name).backend.resourcesOf?.(state) ?? []).map((r) => `${name}|${r}`);
  }

  async release(resources: string[]): Promise<string[]> {
    const byName = new Map<string, string[]>();
    for (const r of resources) {
      const bar = r.indexOf('|');
      const name = bar > 0 && this.named.has(r.slice(0, bar)) ? r.slice(0, bar) : 'default';
      byName.set(name, [...(byName.get(name) ?? []), bar > 0 ? r.slice(bar + 1) : r]);
    }
    const kept: string[] = [];
    for (const [name, rs] of byName) for (const r of (await this.entry(name).backend.release?.(rs)) ?? []) kept.push(`${name}|${r}`);
    return kept;
  }

  private entry(name: string): NamedBackend {
    return this.named.get(name) ?? this.named.get('default')!;
  }

  /** The turn with only the functions this assistant may use, and calls to others refused. */
  private allowed(e: NamedBackend, req: TurnRequest): TurnRequest {
    if (!e.functions || req.functions === 'none') return req;
    const ok = new Set(e.functions);
    return {
      ...req,
      functions: req.functions.filter((f) => ok.has(f.name)),
      runTools: async (calls) => {
        const mine = calls.filter((c) => ok.has(c.name));
        const ran = mine.length ? await req.runTools(mine) : [];
        return calls.map((c) => ran.find((r) => r.id === c.id) ?? { id: c.id, output: JSON.stringify({ error: `${c.name} is not available to this assistant` }) });
      },
    };
  }
}
