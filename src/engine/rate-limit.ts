import type { Budgets } from './budgets.js';
import type { Inbound } from './types.js';
import type { Store } from '../store/index.js';

/**
 * Turns per minute per person, counted in the store: on Redis every instance shares the count,
 * so a person gets the same allowance however the load balancer spreads their messages. A
 * sliding window (estimated from two fixed ones) keeps a burst at a minute's edge from doubling it.
 * Refused messages count too: someone who keeps flooding stays limited until they pause.
 */
export class RateLimiter {
  constructor(
    private readonly store: Store,
    private readonly perMinute: number,
  ) {}

  /** True when this person may start another turn now (and counts it). */
  async allow(who: string, now = Date.now()): Promise<boolean> {
    if (this.perMinute <= 0) return true;
    return (await this.store.hit(`turns:${who}`, 60_000, now)) <= this.perMinute;
  }
}

/**
 * Whether one person's message may become a turn: their token budget and the channel's, the
 * per-minute rate, and how many of their messages are being answered or waiting here
 * (TURNS_IN_FLIGHT). Answers with the short line to tell them, or undefined and counts the message
 * until `release`.
 */
export class Admission {
  /** Messages being answered or waiting, by person (`platform:id`), and whose each counted message is. */
  private readonly inFlight = new Map<string, number>();
  private readonly counted = new Map<string, string>();

  constructor(private readonly deps: { budgets: Budgets; limiter: RateLimiter; turnsInFlight: number }) {}

  async admit(m: Inbound, assistant: string): Promise<string | undefined> {
    const who = `${m.target.platform}:${m.author.id}`;
    const overBudget = await this.deps.budgets.refusal(who, m.key, assistant);
    if (overBudget) return overBudget;
    if (!(await this.deps.limiter.allow(who))) return 'You are sending messages faster than I can answer. Please wait a minute and try again.';
    const cap = this.deps.turnsInFlight;
    if (cap && (this.inFlight.get(who) ?? 0) >= cap) {
      return `I am still answering your earlier ${cap === 1 ? 'message' : `${cap} messages`}. Please wait for ${cap === 1 ? 'it' : 'one'} to finish, then ask again.`;
    }
    this.inFlight.set(who, (this.inFlight.get(who) ?? 0) + 1);
    this.counted.set(m.eventId, who);
    return undefined;
  }

  /** The message was answered (or could not be queued): it no longer counts against its person. */
  release(eventId: string): void {
    const who = this.counted.get(eventId);
    if (!who) return;
    this.counted.delete(eventId);
    const n = (this.inFlight.get(who) ?? 1) - 1;
    if (n > 0) this.inFlight.set(who, n);
    else this.inFlight.delete(who);
  }
}
