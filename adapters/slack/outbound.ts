import { bucketOfToken } from './workspaces.js';

/**
 * Slack's published per-method limits (docs.slack.dev/apis/web-api/rate-limits): Tier 1 1+/min,
 * Tier 2 20+/min, Tier 3 50+/min, Tier 4 100+/min, per workspace per app; chat.postMessage is
 * "special": about one per second per channel. Tiers of the newer methods as their reference
 * pages give them (chat.startStream / stopStream Tier 2, appendStream Tier 4); where a page gives
 * none (agents.sessions.*, assistant.threads.*) Tier 3 is assumed. See docs/slack.md §4.
 */
export interface MethodLimit {
  limit: number;
  windowMs: number;
  /** Counted per channel rather than per workspace (chat.postMessage). */
  perChannel?: boolean;
}

const MINUTE = 60_000;
const TIER2: MethodLimit = { limit: 20, windowMs: MINUTE };
const TIER3: MethodLimit = { limit: 50, windowMs: MINUTE };
const TIER4: MethodLimit = { limit: 100, windowMs: MINUTE };

export const SLACK_LIMITS: Record<string, MethodLimit> = {
  'chat.postMessage': { limit: 1, windowMs: 1_000, perChannel: true },
  'chat.postEphemeral': TIER4,
  'chat.startStream': TIER2,
  'chat.stopStream': TIER2,
  'chat.appendStream': TIER4,
  'chat.update': TIER3,
  'chat.delete': TIER3,
  'reactions.add': TIER3,
  'reactions.remove': TIER2,
  'users.info': TIER4,
  'auth.test': TIER4,
  'files.getUploadURLExternal': TIER4,
  'files.completeUploadExternal': TIER4,
  'assistant.threads.setStatus': TIER3,
  'assistant.threads.setSuggestedPrompts': TIER3,
  'assistant.threads.setTitle': TIER3,
  'agents.sessions.setStatus': TIER3,
  'agents.sessions.rename': TIER3,
};
const DEFAULT_LIMIT = TIER3;
/** For test suites that are not about rate limits (429s are still waited out per method). */
const UNLIMITED: MethodLimit = { limit: Number.MAX_SAFE_INTEGER, windowMs: 1 };

/**
 * A sliding window of one bucket (workspace × method, or × channel), with the penalty a 429 set.
 * Its calls go one at a time, in arrival order: the next is sent only once the previous one was
 * answered, so a 429 is known before another call of the method can land in its penalty window.
 * (One round trip per call is far above every tier's pace, so this costs no throughput.)
 */
class Bucket {
  private readonly sent: number[] = [];
  /** No call before this time: Slack said Retry-After for this method. */
  penaltyUntil = 0;
  /** Calls waiting in this bucket, and slots promised to calls about to come (reserve). */
  private queued = 0;
  private reserved = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly limit: MethodLimit) {}

  /** How long a call arriving now would wait for its slot (0: at once), counting the calls already waiting and `headroom` kept free. */
  wait(now: number, headroom = 0): number {
    while (this.sent.length && this.sent[0] <= now - this.limit.windowMs) this.sent.shift();
    // the calls ahead count as sent now: the window is set by the call `limit` places from the end
    // of sent-then-ahead (read by index: `ahead` may be huge, e.g. half of an unlimited limit)
    const ahead = this.queued + this.reserved + headroom;
    const total = this.sent.length + ahead;
    const i = total - this.limit.limit;
    const window = i >= 0 ? (i < this.sent.length ? this.sent[i] : now) + this.limit.windowMs - now : 0;
    return Math.max(0, window, this.penaltyUntil - now);
  }

  private slot(now: number): number {
    while (this.sent.length && this.sent[0] <= now - this.limit.windowMs) this.sent.shift();
    const window = this.sent.length >= this.limit.limit ? this.sent[this.sent.length - this.limit.limit] + this.limit.windowMs - now : 0;
    return Math.max(0, window, this.penaltyUntil - now);
  }

  /** Promises a slot to a call about to be made (it is counted by `wait` until the call arrives, or for 10 s). */
  reserve(): void {
    this.reserved++;
    setTimeout(() => this.release(), 10_000).unref();
  }

  private release(): void {
    if (this.reserved > 0) this.reserved--;
  }

  /** Runs `send` when this bucket's turn and a free slot come; the bucket waits for its answer. */
  run<T>(send: () => Promise<T>): Promise<T> {
    this.release();
    this.queued++;
    const turn = this.chain.then(async () => {
      for (let ms = this.slot(Date.now()); ms > 0; ms = this.slot(Date.now())) await new Promise((r) => setTimeout(r, ms));
      this.queued--;
      this.sent.push(Date.now());
      return send();
    });
    this.chain = turn.catch(() => undefined); // the caller gets turn's failure; the chain only orders the next call
    return turn;
  }
}

export interface OutboundStats {
  /** 429s Slack answered, by method. */
  rateLimited: Record<string, number>;
  /** Calls that waited for a slot, by method. */
  waited: Record<string, number>;
}

/**
 * One outbound scheduler for all of a Slack adapter's Web API traffic: Bolt's, the reply sinks',
 * file uploads' (it is the WebClient's `fetch`). Each method spends its own budget per workspace
 * (and chat.postMessage per channel), calls wait in order for a slot, and a 429 makes only *that
 * method* wait its Retry-After before the same request is sent again, so one busy method never
 * stalls the others. (@slack/web-api's own handling pauses its whole request queue on any 429;
 * the WebClient is given `rejectRateLimitedCalls` so a 429 that still reaches it fails that call
 * alone.) Hand-written because no maintained library knows Slack's tiers per method and channel;
 * about 100 lines.
 */
export class SlackOutbound {
  private readonly buckets = new Map<string, Bucket>();
  /** Tokens (by hash) known to belong to a workspace's bucket: OAuth installs, one per workspace or org. */
  private readonly bound = new Map<string, string>();
  readonly stats: OutboundStats = { rateLimited: {}, waited: {} };

  constructor(
    private readonly inner: typeof fetch,
    private readonly opts: { apiUrl: string; limits?: Record<string, MethodLimit> | 'unlimited'; maxRetries?: number; onRateLimited?: (method: string, retryAfterS: number) => void } = {
      apiUrl: 'https://slack.com/api/',
    },
  ) {}

  private limitOf(method: string): MethodLimit {
    if (this.opts.limits === 'unlimited') return UNLIMITED;
    return this.opts.limits?.[method] ?? SLACK_LIMITS[method] ?? DEFAULT_LIMIT;
  }

  private bucket(workspace: string, method: string, channel?: string): Bucket {
    const limit = this.limitOf(method);
    const id = `${workspace}:${method}${limit.perChannel ? `:${channel ?? ''}` : ''}`;
    let b = this.buckets.get(id);
    if (!b) this.buckets.set(id, (b = new Bucket(limit)));
    return b;
  }

  /** Says which workspace's budget a token spends (`workspace` is what `reserve` is given for it). */
  bind(token: string, workspace: string): void {
    this.bound.set(bucketOfToken(token), workspace);
  }

  private workspaceOf(token: string): string {
    const hash = bucketOfToken(token);
    return this.bound.get(hash) ?? hash;
  }

  /** How long a call of `method` would wait now in `workspace` (a bucket id: bucketOfToken, or what `bind` named). */
  wouldWait(workspace: string, method: string, channel?: string): number {
    return this.bucket(workspace, method, channel).wait(Date.now());
  }

  /**
   * Takes a slot for a call of `method` about to be made, when it would wait at most `maxWaitMs`;
   * false otherwise. Checking and taking at once, so replies starting together cannot all see the
   * same free slot (the sink streams only when chat.startStream, Tier 2, has room).
   */
  reserve(workspace: string, method: string, maxWaitMs: number, opts: { channel?: string; headroom?: number } = {}): boolean {
    const b = this.bucket(workspace, method, opts.channel);
    // headroom: a share of the budget kept for calls that must go (a reply's final text)
    const keep = opts.headroom ? Math.min(b.limit.limit - 1, Math.ceil(b.limit.limit * opts.headroom)) : 0;
    if (b.wait(Date.now(), keep) > maxWaitMs) return false;
    b.reserve();
    return true;
  }

  /** The fetch to give the WebClient (and Bolt's clientOptions). */
  readonly fetch: typeof fetch = async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(this.opts.apiUrl)) return this.inner(input, init); // file bytes to files.slack.com: not a Web API method
    const method = url.slice(this.opts.apiUrl.length).split(/[?#]/)[0];
    const headers = new Headers(init.headers);
    const token = (headers.get('authorization') ?? '').replace(/^Bearer\s+/i, '') || fieldOf(init.body, 'token') || '';
    const bucket = this.bucket(this.workspaceOf(token), method, this.limitOf(method).perChannel ? (fieldOf(init.body, 'channel') ?? undefined) : undefined);
    for (let attempt = 0; ; attempt++) {
      if (bucket.wait(Date.now()) > 0) this.stats.waited[method] = (this.stats.waited[method] ?? 0) + 1;
      const res = await bucket.run(() => this.inner(input, init));
      if (res.status !== 429) return res;
      const retryAfter = Math.max(1, Number(res.headers.get('retry-after')) || 1);
      this.stats.rateLimited[method] = (this.stats.rateLimited[method] ?? 0) + 1;
      this.opts.onRateLimited?.(method, retryAfter);
      bucket.penaltyUntil = Math.max(bucket.penaltyUntil, Date.now() + retryAfter * 1000);
      // past the retries, the 429 goes to the WebClient, which fails this call alone (rejectRateLimitedCalls)
      if (attempt >= (this.opts.maxRetries ?? 3)) return res;
      await res.arrayBuffer().catch(() => undefined); // drained only to free the socket; the call is sent again
    }
  };
}

/** One field of a WebClient request body (form-encoded, or JSON). */
function fieldOf(body: RequestInit['body'], name: string): string | undefined {
  if (typeof body === 'string') {
    if (body.startsWith('{')) {
      try {
        const v = (JSON.parse(body) as Record<string, unknown>)[name];
        return typeof v === 'string' ? v : undefined;
      } catch {
        return undefined; // not JSON: no channel to schedule by, so the method's own bucket
      }
    }
    return new URLSearchParams(body).get(name) ?? undefined;
  }
  if (body instanceof URLSearchParams) return body.get(name) ?? undefined;
  return undefined;
}
