import { channelKeyOf } from './conversation-key.js';

/**
 * Conversations with work waiting for a free slot, taken fairly: round robin across channels
 * (a channel goes to the back of the ring each time one of its conversations is taken), and
 * within a channel oldest first. One channel flooding with mentions (each its own thread) then
 * delays another channel's message by at most one turn per busy channel, not by the whole flood.
 *
 * Only conversation keys and times live here; the messages themselves wait in the store.
 *
 * @example
 * const ring = new ReadyRing();
 * ring.add('slack:T:C1:1'); ring.add('slack:T:C1:2'); ring.add('slack:T:C2:1');
 * ring.take()?.key // 'slack:T:C1:1', then 'slack:T:C2:1', then 'slack:T:C1:2'
 */
export class ReadyRing {
  /** channel → (conversation → waiting since, ms); a Map keeps insertion order, which is the ring's. */
  private readonly channels = new Map<string, Map<string, number>>();
  private count = 0;

  /** Adds a conversation (no-op when it waits already: it keeps its place and its time). */
  add(key: string, since = Date.now()): void {
    const channel = channelKeyOf(key);
    let waiting = this.channels.get(channel);
    if (!waiting) this.channels.set(channel, (waiting = new Map<string, number>()));
    if (waiting.has(key)) return;
    waiting.set(key, since);
    this.count++;
  }

  has(key: string): boolean {
    return this.channels.get(channelKeyOf(key))?.has(key) ?? false;
  }

  /** The next conversation: the oldest of the channel whose turn it is. */
  take(): { key: string; since: number } | undefined {
    for (const [channel, waiting] of this.channels) {
      this.channels.delete(channel);
      const [first] = waiting;
      if (!first) continue;
      waiting.delete(first[0]);
      this.count--;
      // the channel goes to the back of the ring, with what it still has waiting
      if (waiting.size) this.channels.set(channel, waiting);
      return { key: first[0], since: first[1] };
    }
    return undefined;
  }

  get size(): number {
    return this.count;
  }

  /** When the longest-waiting conversation started waiting (ms), or undefined when none waits. */
  oldest(): number | undefined {
    let oldest: number | undefined;
    for (const waiting of this.channels.values()) {
      const [first] = waiting; // each channel's map is in arrival order
      if (first && (oldest === undefined || first[1] < oldest)) oldest = first[1];
    }
    return oldest;
  }
}
