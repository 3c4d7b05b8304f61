import type { ConversationState, InFlight, ModelBackend, StopOutcome, TurnEvent, TurnMessage, TurnRequest } from './backend.js';
import { ModelError } from './errors.js';

/**
 * The backend the engine holds from the first moment, filled in once the real one is ready
 * (DashScope may be unreachable at boot: Threadline keeps serving /healthz and retries). Until
 * then every call fails with a retryable ModelError `Starting`.
 */
export class BackendSlot implements ModelBackend {
  private current?: ModelBackend;

  set(backend: ModelBackend): void {
    this.current = backend;
  }

  get ready(): boolean {
    return !!this.current;
  }

  private get b(): ModelBackend {
    if (!this.current) throw new ModelError({ status: 503, code: 'Starting', message: 'the model backend is not ready yet' });
    return this.current;
  }

  get name(): string {
    return this.current?.name ?? 'starting';
  }

  get toolTypes(): string[] {
    return this.current?.toolTypes ?? [];
  }

  resourcesOf(state: ConversationState): string[] {
    return this.b.resourcesOf?.(state) ?? [];
  }

  async release(resources: string[]): Promise<string[]> {
    return (await this.b.release?.(resources)) ?? [];
  }

  assistants(): Array<{ name: string; toolTypes: string[] }> {
    return this.current?.assistants?.() ?? [{ name: 'default', toolTypes: this.toolTypes }];
  }

  assistantOf(state: ConversationState): string {
    return this.b.assistantOf?.(state) ?? 'default';
  }

  acceptsFile(contentType: string, name: string, assistant?: string): string | undefined {
    return this.b.acceptsFile?.(contentType, name, assistant);
  }

  open(key: string, messages: TurnMessage[]): Promise<ConversationState> {
    return this.b.open(key, messages);
  }

  add(state: ConversationState, messages: TurnMessage[]): Promise<ConversationState> {
    return this.b.add(state, messages);
  }

  turn(state: ConversationState, req: TurnRequest): AsyncIterable<TurnEvent> {
    return this.b.turn(state, req);
  }

  stop(state: ConversationState, turnId: string): Promise<StopOutcome> {
    return this.b.stop(state, turnId);
  }

  resume(state: ConversationState, inFlight: InFlight, req: TurnRequest): AsyncIterable<TurnEvent> {
    return this.b.resume(state, inFlight, req);
  }

  waitOut(state: ConversationState, inFlight: InFlight): Promise<void> {
    return this.b.waitOut(state, inFlight);
  }

  async lastMark(state: ConversationState, name: string): Promise<string | undefined> {
    return this.b.lastMark?.(state, name);
  }
}
