import type { Logger } from '../log.js';
import type { ConversationState } from '../backends/backend.js';
import type { Store } from '../store/index.js';
import type { ReplyPlace, ReplyTarget } from './types.js';
import { placeOf } from './conversation-key.js';

/** What Threadline remembers about one conversation. */
export interface ConversationRecord {
  key: string;
  /** What the model backend keeps for this conversation (the Assistant thread id, or the Responses history). */
  state: ConversationState;
  /** The backend's id of the turn being answered right now, if any (a restarted process finishes or reports it). */
  activeRunId?: string;
  /** Where the reply of the active run goes. */
  target: ReplyTarget;
  createdAt: number;
  lastActivity: number;
  /** The active run was given up (stop or timeout where cancel is unsupported): wait it out, deliver nothing. */
  abandoned?: boolean;
  /**
   * The turn being answered: the queued messages it carries (already added to the backend) and
   * when it started. Written before the queue lets go of them, so a restart finishes the turn
   * (adopting its run, or starting one) and does not add them twice.
   */
  turn?: { events: string[]; startedAt: number };
  /**
   * The reply was being posted (its first text, or the final answer). A process that dies with
   * this set may have died *of* the reply (issue 19: a reply that crashed the splitter crashed every
   * restart that delivered it again), so recovery drops it with an apology instead of posting it
   * again. A graceful shutdown clears it: that reply is safe to deliver.
   */
  delivering?: number;
  /**
   * A restart is posting again, once, a reply the last process died while posting: a kill -9 or a
   * deploy that did not drain loses nothing. A process that dies during this too may have died of
   * the reply, and the next one drops it with an apology.
   */
  redelivering?: number;
  /**
   * The reply's last part was being posted (the final call may have reached the platform): a
   * process that dies now may have put the whole answer out, so recovery does not post it again
   * (it would be doubled): it completes the reply in place (see `placed`), or where the sink
   * cannot, tells the person it may be incomplete.
   */
  finishing?: number;
  /**
   * Where the reply is on the platform (the sink's `place()`, kept as it changes and when its last
   * part starts going out): with it, a restart after a death while posting completes that reply in
   * place, instead of posting it again below or apologising.
   */
  placed?: ReplyPlace;
  /**
   * The answer was all out on the platform: a process that died after this needs to post nothing
   * more. Kept for a stopped turn whose run was abandoned (the next turn waits it out); any other
   * turn is simply ended in the record at that point (one write).
   */
  delivered?: number;
  /** Who has talked in this conversation (the last 50): they, and admins, may `reset` or `stop` it. */
  participants?: string[];
}

const IN_FLIGHT = 'inflight-runs';

/**
 * Conversation records in the store, keyed by conversation key. An optional idle reset starts
 * a fresh backend conversation when a conversation was quiet for longer than `idleResetMs`.
 */
export class Conversations {
  constructor(
    private readonly store: Store,
    private readonly opts: { idleResetMs?: number; ttlMs?: number; log?: Logger } = {},
  ) {}

  private id(key: string): string {
    return `conversation:${key}`;
  }

  /**
   * The stored record, checked: one that is corrupt or of a shape this release does not know is
   * logged and treated as absent (the conversation starts afresh), never handed to a turn.
   */
  async get(key: string): Promise<ConversationRecord | undefined> {
    const rec = await this.store.get<unknown>(this.id(key));
    if (rec === undefined || rec === null) return undefined;
    if (!isObject(rec)) return this.invalid(key, typeof rec);
    // records written before the backend seam name their Assistant thread at the top level
    if (!rec.state && typeof rec.threadId === 'string') rec.state = { backend: 'assistant', threadId: rec.threadId };
    delete rec.threadId;
    const problem =
      !isObject(rec.state) || typeof rec.state.backend !== 'string'
        ? 'state'
        : typeof rec.key !== 'string'
          ? 'key'
          : !isObject(rec.target) || typeof rec.target.platform !== 'string' // the rest of a target is the platform's own
            ? 'target'
            : typeof rec.lastActivity !== 'number'
              ? 'lastActivity'
              : rec.activeRunId !== undefined && typeof rec.activeRunId !== 'string'
                ? 'activeRunId'
                : rec.participants !== undefined && !Array.isArray(rec.participants)
                  ? 'participants'
                  : undefined;
    if (problem) return this.invalid(key, problem);
    return rec as unknown as ConversationRecord;
  }

  private invalid(key: string, field: string): undefined {
    this.opts.log?.warn({ conversation: key, field }, 'stored conversation record is not valid: starting the conversation afresh');
    return undefined;
  }

  /** The record when it is still fresh (not idle past the reset), else undefined. */
  async current(key: string, now = Date.now()): Promise<ConversationRecord | undefined> {
    const rec = await this.get(key);
    if (!rec) return undefined;
    if (this.opts.idleResetMs && !rec.activeRunId && !rec.turn && now - rec.lastActivity > this.opts.idleResetMs) return undefined;
    return rec;
  }

  /**
   * Saves the record; it expires `ttlMs` after its last save (CONVERSATION_TTL), so forgotten
   * conversations do not pile up. A new one is also listed under its space, so the conversations
   * of a workspace that removes the app can be found (spaceKeys).
   */
  async save(rec: ConversationRecord, opts: { created?: boolean } = {}): Promise<void> {
    await this.store.set(this.id(rec.key), rec, this.opts.ttlMs || undefined);
    if (opts.created) await this.store.setAdd(spaceIndex(rec.key), rec.key);
  }

  /** The keys of the conversations started in a space (`<platform>:<space>`) and not forgotten since (some may have expired). */
  spaceKeys(platform: string, space: string): Promise<string[]> {
    return this.store.setMembers(`conversations-in:${platform}:${space}`);
  }

  /** Takes a conversation off its space's list (it was forgotten for good). */
  async unlist(key: string): Promise<void> {
    await this.store.setRemove(spaceIndex(key), key);
  }

  /** Drops the mapping: the next message starts a new backend conversation. */
  async reset(key: string): Promise<ConversationRecord | undefined> {
    const rec = await this.get(key);
    await this.store.delete(this.id(key));
    return rec;
  }

  /** Marks a run as in flight, in the record and in the index a restarted process reads. */
  async startRun(rec: ConversationRecord, runId: string, target: ReplyTarget): Promise<void> {
    rec.activeRunId = runId;
    rec.target = target;
    rec.lastActivity = Date.now();
    await this.save(rec);
  }

  async endRun(rec: ConversationRecord): Promise<void> {
    rec.activeRunId = undefined;
    rec.turn = undefined;
    rec.delivering = undefined;
    rec.redelivering = undefined;
    rec.finishing = undefined;
    rec.placed = undefined;
    rec.delivered = undefined;
    rec.lastActivity = Date.now();
    await this.save(rec);
  }

  /** The mark that a conversation has work a restarted process must look at (queued messages, a turn), for the store steps that set or clear it with others. */
  inFlightMark(key: string): { name: string; member: string } {
    return { name: IN_FLIGHT, member: key };
  }

  /** Conversation keys that had a run in flight (possibly from a process that died). */
  inFlight(): Promise<string[]> {
    return this.store.setMembers(IN_FLIGHT);
  }

  async forgetInFlight(key: string): Promise<void> {
    await this.store.setRemove(IN_FLIGHT, key);
  }
}

/** The set listing a space's conversations: `conversations-in:<platform>:<space>`. */
function spaceIndex(key: string): string {
  const place = placeOf(key);
  return `conversations-in:${place.platform}:${place.space ?? ''}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
