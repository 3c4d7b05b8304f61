import type { Store } from '../store/index.js';
import { channelKeyOf } from './conversation-key.js';

/** Tokens a day; 0 or absent = no limit. */
export interface BudgetLimits {
  perUserDay?: number;
  perChannelDay?: number;
}

export interface BudgetOptions extends BudgetLimits {
  /** Per-assistant limits that replace the general ones (ASSISTANTS_FILE's `budget`). */
  byAssistant?: Record<string, BudgetLimits>;
}

const DAY_MS = 86_400_000;

/**
 * Token budgets per person and per channel per day (UTC), counted from each run's usage in the
 * store, so every instance on Redis shares them. A turn is refused once a budget is spent; the
 * turn that spends it is answered whole (a run is never cut off), and meetings are never stopped.
 *
 * @example if (await budgets.refusal(who, key, 'default')) …
 */
export class Budgets {
  constructor(
    private readonly store: Store,
    private readonly opts: BudgetOptions,
  ) {}

  limits(assistant: string): BudgetLimits {
    const own = this.opts.byAssistant?.[assistant] ?? {};
    return { perUserDay: own.perUserDay ?? this.opts.perUserDay, perChannelDay: own.perChannelDay ?? this.opts.perChannelDay };
  }

  /** What today's use is, for the person (`platform:id`) and the conversation's channel. */
  async used(who: string, key: string, now = Date.now()): Promise<{ user: number; channel: number }> {
    const [user, channel] = await Promise.all([this.store.count(this.userKey(who, now), 0, 2 * DAY_MS), this.store.count(this.channelKey(key, now), 0, 2 * DAY_MS)]);
    return { user, channel };
  }

  /** A short, human refusal when the person's or the channel's budget for today is spent; undefined otherwise. */
  async refusal(who: string, key: string, assistant: string, now = Date.now()): Promise<string | undefined> {
    const l = this.limits(assistant);
    if (!l.perUserDay && !l.perChannelDay) return undefined;
    const used = await this.used(who, key, now);
    const resets = `It resets at 00:00 UTC, in ${hoursLeft(now)}.`;
    if (l.perUserDay && used.user >= l.perUserDay) return `You have used your ${l.perUserDay.toLocaleString('en-US')} tokens for today. ${resets}`;
    if (l.perChannelDay && used.channel >= l.perChannelDay) return `This channel has used its ${l.perChannelDay.toLocaleString('en-US')} tokens for today. ${resets}`;
    return undefined;
  }

  /** Counts a run's tokens against the person and the channel. */
  async spend(who: string, key: string, tokens: number, now = Date.now()): Promise<void> {
    if (!(tokens > 0)) return;
    await Promise.all([this.store.count(this.userKey(who, now), tokens, 2 * DAY_MS), this.store.count(this.channelKey(key, now), tokens, 2 * DAY_MS)]);
  }

  private userKey(who: string, now: number): string {
    return `tokens:user:${who}:${day(now)}`;
  }

  private channelKey(key: string, now: number): string {
    return `tokens:channel:${channelKeyOf(key)}:${day(now)}`;
  }
}

function day(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

function hoursLeft(now: number): string {
  const ms = DAY_MS - (now % DAY_MS);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.ceil((ms % 3_600_000) / 60_000);
  return h ? `${h} h ${m} min` : `${m} min`;
}
