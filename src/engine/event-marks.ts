import type { Store } from '../store/index.js';

/**
 * Each inbound event's mark in the store, shared by every instance on Redis: claimed the first
 * time it arrives (a repeat is dropped), then taken care of once it is queued (in the same store
 * step as the queue entry, see TurnQueue.push) or answered. An intake replay reads it.
 *
 * @example if (await marks.claim('Ev1')) … await marks.settle('Ev1')
 */
export class EventMarks {
  constructor(
    private readonly store: Store,
    private readonly ttlMs: number,
  ) {}

  /** The claim a queue entry settles in its own store step. */
  settling(eventId: string): { key: string; ttlMs: number } {
    return { key: keyOf(eventId), ttlMs: this.ttlMs };
  }

  /** True the first time, false for every repeat (across instances with Redis). */
  claim(eventId: string): Promise<boolean> {
    return this.store.claim(keyOf(eventId), this.ttlMs);
  }

  /** The event was taken care of without being queued (answered, captured, refused). */
  settle(eventId: string): Promise<void> {
    return this.store.settle(keyOf(eventId), this.ttlMs);
  }

  /**
   * Whether an event recorded at intake by a process that died still needs handling: not seen at
   * all, or claimed but never taken care of (the process died between the two).
   */
  async needsReplay(eventId: string): Promise<boolean> {
    const state = await this.store.claimState(keyOf(eventId));
    // settled, or marked so by an earlier release (in a record of its own)
    if (state === 'settled' || (await this.store.get<number>(keyOf(eventId))) === 2) return false;
    // never claimed (the process died first): claimed now, so that taking care of it settles it
    if (state === 'none') await this.claim(eventId);
    return true;
  }
}

/** The claim's name (an earlier release kept its "taken care of" mark as a record of the same name). */
function keyOf(eventId: string): string {
  return `event:${eventId}`;
}
