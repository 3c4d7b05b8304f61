import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';

/**
 * Events acknowledged to a platform that retries only what it was not acknowledged for (Slack's
 * Events API): each is recorded in the store before the acknowledgement (one round trip: a set
 * member with the raw body and the instance that took it) and let go once it is taken care of.
 * An instance beats a heartbeat in the store; the entries of an instance whose heartbeat stopped
 * (a crash, `kill -9`, a deploy that did not drain) are handed back by `orphans` to whichever
 * instance runs next, which replays them: the engine's event marks tell a replay from a duplicate.
 *
 * @example const entry = await intake.record('Ev123', body); … await intake.done(entry)
 */
export class Intake {
  readonly instance = randomUUID();
  /** Events this instance recorded and has not let go of yet. */
  pending = 0;
  private heartbeat?: NodeJS.Timeout;

  /** `aliveMs`: how long a heartbeat lasts (INSTANCE_HEARTBEAT): another instance takes over what a dead one acknowledged this long after it died. */
  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    readonly aliveMs = 30_000,
    private readonly name = 'intake',
  ) {}

  /** Starts the heartbeat that tells other instances this one is alive. */
  async start(): Promise<void> {
    const beat = () => this.store.set(`alive:${this.instance}`, 1, this.aliveMs);
    await beat();
    this.heartbeat = setInterval(() => void beat().catch((err: unknown) => this.log.warn({ err }, 'intake heartbeat failed')), this.aliveMs / 3);
    this.heartbeat.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    // a clean stop let every event it acknowledged finish; the heartbeat's end frees nothing else
    await this.store.delete(`alive:${this.instance}`).catch((err: unknown) => this.log.debug({ err }, 'could not clear the heartbeat'));
  }

  /** Records an event before it is acknowledged; throws when the store cannot (then do not acknowledge). */
  async record(id: string, body: unknown): Promise<string> {
    const entry = JSON.stringify({ id, by: this.instance, at: Date.now(), body });
    await this.store.setAdd(this.name, entry);
    this.pending++;
    return entry;
  }

  /** The event is taken care of (queued, answered or dropped on purpose). */
  async done(entry: string): Promise<void> {
    await this.store.setRemove(this.name, entry);
    if (entry.includes(`"by":"${this.instance}"`)) this.pending = Math.max(0, this.pending - 1);
  }

  /** Events recorded by instances that are no longer alive (this one's earlier life included). */
  async orphans(): Promise<Array<{ entry: string; id: string; body: Record<string, unknown> }>> {
    const out: Array<{ entry: string; id: string; body: Record<string, unknown> }> = [];
    const alive = new Map<string, boolean>();
    for (const entry of await this.store.setMembers(this.name)) {
      let e: { id?: unknown; by?: unknown; body?: unknown };
      try {
        e = JSON.parse(entry) as typeof e;
      } catch {
        e = {};
      }
      if (typeof e.id !== 'string' || typeof e.by !== 'string' || typeof e.body !== 'object' || e.body === null) {
        this.log.warn({ bytes: entry.length }, 'an intake entry is not valid: dropped');
        await this.store.setRemove(this.name, entry);
        continue;
      }
      if (e.by === this.instance) continue;
      if (!alive.has(e.by)) alive.set(e.by, (await this.store.get(`alive:${e.by}`)) !== undefined);
      if (!alive.get(e.by)) out.push({ entry, id: e.id, body: e.body as Record<string, unknown> });
    }
    return out;
  }
}
