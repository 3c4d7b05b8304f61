import type { ConversationState, ModelBackend } from '../backends/backend.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';

const LEDGER = 'held-resources';

/**
 * What the backend holds for conversations outside their records (files uploaded to DashScope),
 * in a ledger on the store: released when a conversation is reset, and by a sweep once its record
 * is gone (CONVERSATION_TTL), so nothing a person shared stays at DashScope after the conversation
 * is forgotten. One ledger entry per resource: `{"key":…,"r":…}` in a store set.
 */
export class HeldResources {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly deps: {
      store: Store;
      backend: ModelBackend;
      log: Logger;
      /** Whether the conversation's record still exists. */
      exists: (key: string) => Promise<boolean>;
    },
  ) {}

  /** Records what the state names that is not recorded yet (`before`: the state's resources before this turn). */
  async note(key: string, state: ConversationState, before: string[] = []): Promise<void> {
    const known = new Set(before);
    for (const r of this.deps.backend.resourcesOf?.(state) ?? []) if (!known.has(r)) await this.deps.store.setAdd(LEDGER, JSON.stringify({ key, r }));
  }

  /** Releases what a conversation holds, now (a reset). */
  async releaseFor(key: string): Promise<void> {
    await this.releaseWhere((k) => Promise.resolve(k === key));
  }

  /** Releases what conversations whose records are gone still hold. Returns how many resources went. */
  async sweep(): Promise<number> {
    const alive = new Map<string, boolean>();
    return this.releaseWhere(async (key) => {
      if (!alive.has(key)) alive.set(key, await this.deps.exists(key));
      return !alive.get(key);
    });
  }

  /** Sweeps now and then every `everyMs` (default an hour). */
  start(everyMs = 3_600_000): void {
    const run = () => void this.sweep().catch((err: unknown) => this.deps.log.warn({ err }, 'sweeping held resources failed'));
    run();
    this.timer ??= setInterval(run, everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async releaseWhere(gone: (key: string) => Promise<boolean>): Promise<number> {
    const byKey = new Map<string, Array<{ member: string; r: string }>>();
    for (const member of await this.deps.store.setMembers(LEDGER)) {
      let entry: { key?: unknown; r?: unknown };
      try {
        entry = JSON.parse(member) as typeof entry;
      } catch {
        entry = {};
      }
      if (typeof entry.key !== 'string' || typeof entry.r !== 'string') {
        this.deps.log.warn({ bytes: member.length }, 'a held-resource entry is not valid: dropped');
        await this.deps.store.setRemove(LEDGER, member);
        continue;
      }
      byKey.set(entry.key, [...(byKey.get(entry.key) ?? []), { member, r: entry.r }]);
    }
    let released = 0;
    for (const [key, entries] of byKey) {
      if (!(await gone(key))) continue;
      const kept = new Set((await this.deps.backend.release?.(entries.map((e) => e.r))) ?? []);
      for (const e of entries) {
        if (kept.has(e.r)) continue;
        await this.deps.store.setRemove(LEDGER, e.member);
        released++;
      }
    }
    return released;
  }
}
