import { EventEmitter } from 'node:events';
import type { ModelBackend } from '../backends/backend.js';
import type { HeldLock } from '../store/index.js';
import { parseCommand, type Command } from './commands.js';
import { platformOf } from './conversation-key.js';
import { Conversations, type ConversationRecord } from './conversations.js';
import { humanMessage } from './errors.js';
import { SharedFiles, turnMessages } from './files.js';
import { HeldResources } from './resources.js';
import { Budgets } from './budgets.js';
import { EventMarks } from './event-marks.js';
import { ChannelAssistants } from './channel-assistants.js';
import { Answers, SHUTDOWN, STOPPED } from './answers.js';
import { Admission, RateLimiter } from './rate-limit.js';
import { TurnQueue } from './turn-queue.js';
import { Pace } from './pace.js';
import { safely, silentSink, tellPerson } from './sink-helpers.js';
import type { Inbound, PlatformPort, ReplySink } from './types.js';
import type { EnginePort } from './port.js';

const STOP_CHANNEL = 'stop';
const NOT_YOURS = (what: string) => `Only the people in this conversation, or an admin, can ${what} it.`;

import { ENGINE_DEFAULTS, type EngineDeps, type EngineOptions, type MeetingDesk } from './engine-options.js';

export type { EngineDeps, EngineOptions, MeetingDesk } from './engine-options.js';

/**
 * The platform-neutral heart: every inbound message goes through `receive`. Duplicates are
 * dropped, commands answered, meeting lines captured, and everything else becomes a turn on the
 * conversation's backend — one turn at a time per conversation, with messages that arrive
 * mid-run queued and answered together after it.
 */
export class Engine extends EventEmitter<{ 'run-started': [{ key: string; runId: string }]; 'turn-ended': [{ key: string; status: string; runId?: string }] }> implements EnginePort {
  readonly conversations: Conversations;
  meetings?: MeetingDesk;
  private readonly queue: TurnQueue;
  private readonly answers: Answers;
  private readonly admission: Admission;
  private readonly files: SharedFiles;
  private readonly budgets: Budgets;
  private readonly marks: EventMarks;
  private readonly channels: ChannelAssistants;
  /** How many turns run here at once: the composition root tells it of DashScope's 429s and successes. */
  readonly pace: Pace;
  /** Files uploaded for conversations, released at reset or once their records expire. */
  readonly held: HeldResources;
  private readonly opts: Required<Omit<EngineOptions, 'idleResetMs'>> & { idleResetMs?: number };
  private accepting = true;

  constructor(private readonly deps: EngineDeps) {
    super();
    this.opts = { ...ENGINE_DEFAULTS, ...deps.options };
    this.pace = new Pace(this.opts.turnConcurrency, {
      onChange: (limit, why, by) =>
        deps.log[why === 'throttled' ? 'warn' : 'info'](
          { limit, max: this.opts.turnConcurrency, ...(by ? { by } : {}) },
          why === 'throttled' ? `${by === 'dashscope' ? 'DashScope' : by} is throttling: fewer turns at once` : 'turns at once going back up',
        ),
    });
    this.files = new SharedFiles({ platforms: deps.platforms, backend: deps.backend, log: deps.log, options: this.opts.files });
    this.budgets = new Budgets(deps.store, this.opts.budgets);
    this.marks = new EventMarks(deps.store, this.opts.dedupeTtlMs);
    this.channels = new ChannelAssistants({
      store: deps.store,
      backend: deps.backend,
      log: deps.log,
      conversations: () => this.conversations,
      budgets: this.budgets,
      routes: this.opts.assistantRoutes,
      adminUserIds: this.opts.adminUserIds,
      isDirect: (key) => this.deps.platforms[platformOf(key)]?.keys.isDirect(key) ?? false,
    });
    this.held = new HeldResources({ store: deps.store, backend: deps.backend, log: deps.log, exists: async (key) => !!(await this.conversations.get(key)) });
    this.conversations = new Conversations(deps.store, { idleResetMs: this.opts.idleResetMs, ttlMs: this.opts.conversationTtlMs, log: deps.log });
    this.queue = new TurnQueue({
      store: deps.store,
      conversations: this.conversations,
      log: deps.log,
      metrics: deps.metrics,
      lockTtlMs: this.opts.lockTtlMs,
      lockWaitMs: this.opts.runTimeoutMs + 60_000,
      pace: this.pace,
      backlogWarn: this.opts.backlogWarn,
      sinkFor: (q) => this.deps.platforms[q.target.platform]?.sinkFor(q.target) ?? silentSink(this.deps.log),
      onBatch: (key, batch, lock, drop) => this.turn(key, batch, lock, drop),
      onLockFailure: async (batch, err) => {
        for (const m of batch) {
          this.admission.release(m.eventId);
          await safely(() => m.sink.fail(humanMessage(err)), this.deps.log);
        }
      },
    });
    this.answers = new Answers({
      ...deps,
      conversations: this.conversations,
      runTimeoutMs: this.opts.runTimeoutMs,
      onRunStarted: (key, runId) => this.emit('run-started', { key, runId }),
      onTurnEnded: (key, status, runId) => this.emit('turn-ended', { key, status, runId }),
      onUsage: async (u) => {
        this.deps.metrics?.tokens.inc({ assistant: u.assistant, kind: 'input' }, u.inputTokens);
        this.deps.metrics?.tokens.inc({ assistant: u.assistant, kind: 'output' }, u.outputTokens);
        await this.budgets.spend(u.who, u.key, u.inputTokens + u.outputTokens);
      },
    });
    this.admission = new Admission({ budgets: this.budgets, limiter: new RateLimiter(deps.store, this.opts.turnsPerMinute), turnsInFlight: this.opts.turnsInFlight });
    this.meetings = deps.meetings;
    // A stop for a turn another instance runs reaches it here (the backend may have no way to stop it, e.g. Responses).
    this.listening = deps.store
      .subscribe(STOP_CHANNEL, (key) => this.answers.active.get(key)?.abort(STOPPED))
      .catch((err: unknown) => {
        deps.log.warn({ err }, 'cannot listen for stops from other instances; a stop reaches only turns running here');
      });
  }

  /** Resolves once this instance hears stops published by others (tests, startup). */
  readonly listening: Promise<void>;

  /** Lets an adapter that starts after the engine receive recovered replies and meeting minutes. */
  addPlatform(name: string, port: PlatformPort): void {
    this.deps.platforms[name] = port;
  }

  /** A sink for a stored target, when its platform runs in this process. */
  sinkFor(target: Inbound['target']): ReplySink | undefined {
    return this.deps.platforms[target.platform]?.sinkFor(target);
  }

  get backend(): ModelBackend {
    return this.deps.backend;
  }

  /** Handles one inbound message. Never throws: failures become a short message in the chat and a log line. */
  async receive(m: Inbound): Promise<void> {
    try {
      await this.dispatch(m);
    } catch (err) {
      this.deps.log.error({ err, conversation: m.key, event: m.eventId }, 'inbound message failed');
      await safely(() => m.sink.fail(humanMessage(err)), this.deps.log);
    }
  }

  private async dispatch(m: Inbound): Promise<void> {
    if (!this.accepting) {
      if (m.kind !== 'ambient') await m.sink.fail('I am restarting right now. Please send that again in a minute.');
      return;
    }
    // Most channel chatter is not for us: without a meeting there, drop it before claiming anything.
    // The meeting read here is the one the capture below uses.
    let meeting: object | undefined;
    if (m.kind === 'ambient') {
      meeting = await this.meetings?.get(m.channelKey);
      if (!meeting) return;
    }
    if (!m.claimed && !(await this.claimEvent(m.eventId))) {
      this.deps.log.debug({ event: m.eventId }, 'duplicate event dropped');
      return;
    }
    // taken care of (queued in the store, which marks it in the same step, or answered): an intake replay of it would be a duplicate
    if ((await this.handle(m, meeting)) !== 'queued') await this.marks.settle(m.eventId);
  }

  private async handle(m: Inbound, meeting: object | undefined): Promise<'queued' | undefined> {
    const command = m.kind === 'ambient' ? undefined : parseCommand(m.text);
    if (command) {
      await this.command(m, command);
      return;
    }
    await this.meetings?.capture(m, meeting);
    if (m.kind === 'ambient') return;
    if (!m.text.trim() && !m.files?.length) {
      await m.sink.notice('Hi! Ask me anything, or say `help` to see what I can do.');
      return;
    }
    const refused = await this.admission.admit(m, await this.channels.assistantFor(m.key));
    if (refused) {
      await m.sink.fail(refused);
      return;
    }
    try {
      await this.queue.push(m, this.marks.settling(m.eventId));
    } catch (err) {
      this.admission.release(m.eventId);
      throw err;
    }
    return 'queued';
  }

  /** The named assistant a new conversation at `key` gets (see ChannelAssistants). */
  chooseAssistant(key: string): Promise<string> {
    return this.channels.choose(key);
  }

  /** Whether a conversation exists at `key` (a thread the bot is part of). */
  async hasConversation(key: string): Promise<boolean> {
    return !!(await this.conversations.get(key));
  }

  /** Whether channel messages not addressed to the bot matter in this channel (a meeting takes notes there). */
  async wantsAmbient(channelKey: string): Promise<boolean> {
    return !!(await this.meetings?.get(channelKey));
  }

  /** Claims a message id: true the first time (adapters may claim early and pass `claimed` on the Inbound); see EventMarks. */
  claimEvent(eventId: string): Promise<boolean> {
    return this.marks.claim(eventId);
  }

  /** Whether an event a dead process recorded at intake still needs handling (see EventMarks). */
  needsReplay(eventId: string): Promise<boolean> {
    return this.marks.needsReplay(eventId);
  }

  private async command(m: Inbound, c: Command): Promise<void> {
    switch (c.name) {
      case 'help':
        return this.channels.help(m, { localTools: this.deps.registry.list().map((t) => t.name), commandPrefix: this.opts.commandPrefix, meetings: !!this.meetings });
      case 'assistant':
        return this.channels.command(m, c.action, c.choice);
      case 'usage':
        return this.channels.usage(m);
      case 'reset': {
        if (!(await this.mayControl(m))) return tellPerson(m.sink, NOT_YOURS('reset'));
        const rec = await this.forget(m.key);
        return m.sink.notice(rec ? 'Starting fresh: I have forgotten this conversation.' : 'There was nothing to forget here; we are starting fresh.');
      }
      case 'stop':
        if (!(await this.mayControl(m))) return tellPerson(m.sink, NOT_YOURS('stop'));
        return m.sink.notice((await this.stop(m.key)) ? 'Stopped.' : 'Nothing to stop: I am not answering anything here.');
      case 'notes':
        if (!this.meetings) return m.sink.notice('Meeting notes are not available yet.');
        return this.meetings.command(m, c.action, c.title);
    }
  }

  /**
   * In a shared thread, `reset` and `stop` belong to the people who talk in it (and admins): a
   * passer-by cannot wipe or cut off someone else's conversation. A DM is its person's alone.
   */
  private async mayControl(m: Inbound): Promise<boolean> {
    if (!m.group || m.author.isAdmin) return true;
    const rec = await this.conversations.get(m.key);
    return !rec?.participants?.length || rec.participants.includes(m.author.id);
  }

  /** Forgets a conversation: its turn stops (here or elsewhere), its record goes, and so does what the backend holds for it (files people shared). */
  private async forget(key: string): Promise<ConversationRecord | undefined> {
    const local = this.answers.active.get(key);
    local?.abort(STOPPED);
    const rec = await this.conversations.reset(key);
    if (!local && rec?.activeRunId) await this.stopElsewhere(rec.key, rec.state, rec.activeRunId);
    if (rec)
      await this.held.releaseFor(key).catch((err: unknown) => this.deps.log.warn({ err, conversation: key }, 'could not let go of what the backend holds for the conversation; the sweep tries again'));
    return rec;
  }

  /** A space removed the app (Slack's app_uninstalled): every conversation started there is forgotten; returns how many were still kept. */
  async forgetSpace(platform: string, space: string): Promise<number> {
    let n = 0;
    for (const key of await this.conversations.spaceKeys(platform, space)) {
      if (await this.forget(key)) n++;
      await Promise.all([this.conversations.unlist(key), this.conversations.forgetInFlight(key)]);
    }
    return n;
  }

  /** Stops the answer in progress in a conversation (here or on another instance). */
  async stop(key: string): Promise<boolean> {
    const local = this.answers.active.get(key);
    const rec = await this.conversations.get(key);
    // Running here: the aborted turn cancels its own run. Running on another instance: cancel it
    // through the API, and that instance's stream ends with the cancellation.
    if (local) local.abort(STOPPED);
    else if (rec?.activeRunId) await this.stopElsewhere(key, rec.state, rec.activeRunId);
    const queued = await this.queue.length(key).catch((err: unknown) => {
      this.deps.log.warn({ err, conversation: key }, 'could not read the queue while stopping');
      return 0; // what was stopped above still counts
    });
    return !!local || !!rec?.activeRunId || queued > 0;
  }

  /**
   * Stops a turn another instance is running: that instance hears it on the store and aborts its
   * turn (as a local stop would), and the backend is asked too (the Assistant API cancels the run).
   */
  private async stopElsewhere(key: string, state: ConversationRecord['state'], turnId: string): Promise<void> {
    await this.deps.store.publish(STOP_CHANNEL, key).catch((err: unknown) => this.deps.log.warn({ err, conversation: key }, 'could not tell the other instances to stop'));
    await this.deps.backend.stop(state, turnId).catch((err: unknown) => this.deps.log.warn({ err, conversation: key, runId: turnId }, 'could not stop the turn'));
  }

  /** One turn: settle a run left from before, add the batch's messages, run once, reply. True when no turn is left in flight. */
  private async turn(key: string, queued: Inbound[], lock: HeldLock, dropQueued: () => Promise<void>): Promise<boolean> {
    try {
      return await this.turnOnce(key, queued, lock, dropQueued);
    } finally {
      for (const m of queued) this.admission.release(m.eventId);
    }
  }

  private async turnOnce(key: string, queued: Inbound[], lock: HeldLock, dropQueued: () => Promise<void>): Promise<boolean> {
    let rec: ConversationRecord | undefined;
    // nothing left for a restart to settle: no turn, no run (an abandoned run is waited out by the next turn)
    const over = () => !rec || (!rec.activeRunId && !rec.turn && !rec.abandoned);
    let batch = queued;
    try {
      rec = await this.conversations.current(key);
      if (rec?.activeRunId || rec?.turn) {
        const carried = new Set(rec.turn?.events ?? []);
        await this.answers.settle(rec, lock);
        // messages the interrupted turn had already added to the thread were answered by it
        batch = batch.filter((m) => !carried.has(m.eventId));
      }
      if (batch.length === 0) return over();
      const last = batch[batch.length - 1];
      // files are checked against what this conversation's assistant can read
      const assistant = batch.some((m) => m.files?.length) && this.deps.backend.assistants ? (rec ? this.deps.backend.assistantOf?.(rec.state) : await this.chooseAssistant(key)) : undefined;
      const messages = await turnMessages(batch, { maxInputChars: this.opts.maxInputChars, files: this.files, assistant });
      const turn = { events: batch.map((m) => m.eventId), startedAt: Date.now() };
      const authors = batch.map((m) => m.author.id);
      const heldBefore = rec ? (this.deps.backend.resourcesOf?.(rec.state) ?? []) : [];
      const created = !rec;
      if (!rec) {
        // A new conversation: the backend may create it with the first messages in one request.
        const state = await this.deps.backend.open(key, messages);
        rec = { key, state, target: last.target, createdAt: Date.now(), lastActivity: Date.now(), turn, participants: [...new Set(authors)].slice(0, 50) };
      } else {
        rec.participants = [...new Set([...(rec.participants ?? []), ...authors])].slice(-50);
        rec.state = await this.deps.backend.add(rec.state, messages);
        rec.turn = turn;
        rec.target = last.target;
      }
      // The record says which messages this turn carries before the queue lets go of them.
      await this.conversations.save(rec, { created });
      if (messages.some((x) => x.files?.length)) await this.held.note(key, rec.state, heldBefore);
      await dropQueued();
      await this.answers.answer(
        rec,
        last,
        lock,
        batch.map((m) => ({ id: m.author.id, name: m.author.name })),
      );
      return over();
    } catch (err) {
      this.deps.log.warn({ err, conversation: key }, 'turn failed before the run');
      const sink = batch[batch.length - 1]?.sink;
      if (sink) await safely(() => sink.fail(humanMessage(err)), this.deps.log);
      return false;
    }
  }

  /** After a restart: finish or report every run that was in flight when the last process stopped. */
  recover(): Promise<number> {
    return this.queue.adopt((platform) => !!this.deps.platforms[platform], { all: true });
  }

  /** Resolves when no turn is running or queued (tests and shutdown). */
  async idle(): Promise<void> {
    await this.queue.idle();
  }

  /** Turns running here right now. */
  get busy(): number {
    return this.queue.busy;
  }

  /** The turn backlog here: conversations waiting for a slot, the longest wait, the current limit (/metrics). */
  backlog(): { waiting: number; oldestSeconds: number; limit: number } {
    return { waiting: this.queue.waiting, oldestSeconds: this.queue.oldestWaitSeconds(), limit: this.pace.limit };
  }

  /** Takes on queued work no instance is doing (a shared backlog on Redis; see TurnQueue.adopt). */
  adopt(): Promise<number> {
    return this.accepting ? this.queue.adopt((platform) => !!this.deps.platforms[platform]) : Promise.resolve(0);
  }

  /**
   * Stops taking messages and lets turns in flight finish until the deadline; turns still
   * running then are left in the store for the next start to finish.
   */
  async drain(deadlineMs: number): Promise<{ finished: boolean }> {
    this.accepting = false;
    // turns not started stay queued in the store: the next instance (or start) answers them
    this.queue.pause();
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([this.idle().then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), deadlineMs)))]);
    clearTimeout(timer);
    if (!finished) {
      for (const ac of this.answers.active.values()) ac.abort(SHUTDOWN);
      await Promise.race([this.idle(), new Promise((r) => setTimeout(r, 2_000))]);
    }
    // conversations still waiting for a slot stay queued in the store, marked in flight
    return { finished: finished && this.queue.waiting === 0 };
  }
}
