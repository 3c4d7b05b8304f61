import { channelKeyOf } from './conversation-key.js';

/** Conversation → waiting since (ms); a Map keeps insertion order, which is the arrival order. */
type Waiting = Map<string, number>;

/**
 * Conversations with work waiting for a free slot, taken fairly on two levels: round robin across
 * channels (a channel goes to the back of the ring each time one of its conversations is taken),
 * and within a channel round robin across the people who asked (a person goes to the back of the
 * channel's ring), each person's conversations oldest first. One channel flooding with mentions
 * then delays another channel's message by at most one turn per busy channel, and one person
 * flooding a channel delays someone else there by at most one turn per busy person, not by the
 * whole flood.
 *
 * A conversation whose person is not known (work resumed after a restart) waits under the person
 * `''`. Only conversation keys and times live here; the messages themselves wait in the store.
 *
 * @example
 * const ring = new ReadyRing();
 * ring.add('slack:T:C1:1', 'U1'); ring.add('slack:T:C1:2', 'U1'); ring.add('slack:T:C1:3', 'U2'); ring.add('slack:T:C2:1', 'U1');
 * ring.take()?.key // 'slack:T:C1:1', then 'slack:T:C2:1', then 'slack:T:C1:3' (U2's turn in C1), then 'slack:T:C1:2'
 */
export class ReadyRing {
  /** channel → person → conversations; both Maps are rings in insertion order. */
  private readonly channels = new Map<string, Map<string, Waiting>>();
  /** conversation → the person it waits under (so `has` and a repeated `add` find it). */
  private readonly people = new Map<string, string>();

  /** Adds a conversation (no-op when it waits already: it keeps its place, its person and its time). */
  add(key: string, person = '', since = Date.now()): void {
    if (this.people.has(key)) return;
    const channel = channelKeyOf(key);
    let persons = this.channels.get(channel);
    if (!persons) this.channels.set(channel, (persons = new Map<string, Waiting>()));
    let waiting = persons.get(person);
    if (!waiting) persons.set(person, (waiting = new Map<string, number>()));
    waiting.set(key, since);
    this.people.set(key, person);
  }

  has(key: string): boolean {
    return this.people.has(key);
  }

  /** The next conversation: the oldest of the person whose turn it is, in the channel whose turn it is. */
  take(): { key: string; person: string; since: number } | undefined {
    for (const [channel, persons] of this.channels) {
      this.channels.delete(channel);
      for (const [person, waiting] of persons) {
        persons.delete(person);
        const [first] = waiting;
        if (!first) continue;
        waiting.delete(first[0]);
        this.people.delete(first[0]);
        // the person goes to the back of the channel's ring, and the channel to the back of the ring
        if (waiting.size) persons.set(person, waiting);
        if (persons.size) this.channels.set(channel, persons);
        return { key: first[0], person, since: first[1] };
      }
    }
    return undefined;
  }

  get size(): number {
    return this.people.size;
  }

  /** When the longest-waiting conversation started waiting (ms), or undefined when none waits. */
  oldest(): number | undefined {
    let oldest: number | undefined;
    for (const persons of this.channels.values()) {
      for (const waiting of persons.values()) {
        const [first] = waiting; // each person's map is in arrival order
        if (first && (oldest === undefined || first[1] < oldest)) oldest = first[1];
      }
    }
    return oldest;
  }
}
