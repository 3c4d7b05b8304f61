import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';

/** Who recorded an entry: `by` is written before the body, and quotes inside the id are escaped. */
const BY = /"by":"([^"]+)"/;

/**
 * Events acknowledged to a platform that retries only what it was not acknowledged for (Slack's
 * Events API): each is recorded in the store before the acknowledgement (one round trip: a member
 * of this instance's own set, with the raw body) and let go once it is taken care of. An instance
 * beats a heartbeat in the store and is listed among the instances that record; the entries of an
 * instance whose heartbeat stopped (a crash, `kill -9`, a deploy that did not drain) are handed
 * back by `orphans` to whichever instance runs next, which replays them: the engine's event marks
 * tell a replay from a duplicate.
 *
 * One set per instance, so the periodic look for orphans reads only dead instances' entries: with
 * one shared set it read every entry in flight (2 KB each) every few seconds, which stalled the
 * event loop (and the acks) during a burst.
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
    await this.store.setAdd(`${this.name}:instances`, this.instance);
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
    await this.store.setAdd(this.setOf(this.instance), entry);
    this.pending++;
    return entry;
  }

  /** The event is taken care of (queued, answered or dropped on purpose). */
  async done(entry: string): Promise<void> {
    // a replayed entry lives in the set of the instance that recorded it (`by` comes before the body: the id's quotes are escaped)
    const by = BY.exec(entry)?.[1];
    if (by === this.instance) {
      await this.store.setRemove(this.setOf(by), entry);
      this.pending = Math.max(0, this.pending - 1);
      return;
    }
    // a replay: of a dead instance's set, or of the one set an earlier release kept for every instance
    if (by) await this.store.setRemove(this.setOf(by), entry);
    await this.store.setRemove(this.name, entry);
  }

  private setOf(instance: string): string {
    return `${this.name}:${instance}`;
  }

  /** Events recorded by instances that are no longer alive (this one's earlier life included). */
  async orphans(): Promise<Array<{ entry: string; id: string; body: Record<string, unknown> }>> {
    const out: Array<{ entry: string; id: string; body: Record<string, unknown> }> = [];
    const alive = new Map<string, boolean>([[this.instance, true]]);
    const isAlive = async (by: string) => {
      if (!alive.has(by)) alive.set(by, (await this.store.get(`alive:${by}`)) !== undefined);
      return alive.get(by)!;
    };
    for (const instance of await this.store.setMembers(`${this.name}:instances`)) {
      if (await isAlive(instance)) continue;
      const entries = await this.store.setMembers(this.setOf(instance));
      // nothing left of it: it leaves the list (it cannot record again: a restart is a new instance)
      if (!entries.length) await this.store.setRemove(`${this.name}:instances`, instance);
      for (const entry of entries) this.take(entry, this.setOf(instance), out);
    }
    // entries of a release that kept every instance's in one set, left by an instance that died before the upgrade
    for (const entry of await this.store.setMembers(this.name)) {
      const by = BY.exec(entry)?.[1];
      if (!by || !(await isAlive(by))) this.take(entry, this.name, out);
    }
    return out;
  }

  /** An entry to replay, or dropped (and logged) when it is not valid. */
  private take(entry: string, set: string, out: Array<{ entry: string; id: string; body: Record<string, unknown> }>): void {
    let e: { id?: unknown; by?: unknown; body?: unknown };
    try {
      e = JSON.parse(entry) as typeof e;
    } catch {
      e = {};
    }
    if (typeof e.id !== 'string' || typeof e.by !== 'string' || typeof e.body !== 'object' || e.body === null) {
      this.log.warn({ bytes: entry.length }, 'an intake entry is not valid: dropped');
      void this.store.setRemove(set, entry).catch((err: unknown) => this.log.debug({ err }, 'could not drop an invalid intake entry'));
      return;
    }
    out.push({ entry, id: e.id, body: e.body as Record<string, unknown> });
  }
}
