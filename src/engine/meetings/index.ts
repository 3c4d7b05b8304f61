import type { ConversationState, ModelBackend, TurnEvent } from '../../backends/backend.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import { withLock, type Store } from '../../store/index.js';
import type { Engine, MeetingDesk } from '../engine.js';
import { humanMessage } from '../errors.js';
import { postMinutes, tellPerson } from '../sink-helpers.js';
import type { Author, Inbound, ReplySink, ReplyTarget } from '../types.js';
import { CHECKPOINT_INSTRUCTIONS, MINUTES_INSTRUCTIONS, earlierParts } from './prompts.js';

/** One meeting taking notes in one channel. */
export interface Meeting {
  id: string;
  channelKey: string;
  title: string;
  startedBy: Author;
  startedAt: number;
  /** Where minutes are posted (the channel). */
  target: ReplyTarget;
  /** The backend conversation holding the current chunk of the transcript. */
  state: ConversationState;
  /** Lines already added to the backend. */
  flushed: number;
  /** Characters added to the current thread since the last checkpoint. */
  chunkChars: number;
  /** Summaries of the earlier chunks, oldest first. */
  checkpoints: string[];
}

export interface MeetingOptions {
  idleStopMs: number;
  maxDurationMs: number;
  /** Past this many characters in one backend conversation, the chunk is summarised and a new thread begins. */
  checkpointChars: number;
  /** How often captured lines are added to the backend conversation (one Message.create per meeting per tick). */
  batchMs: number;
}

const ACTIVE = 'meetings-active';
const MAX_BATCH = 200;
const OFF = /^\s*!off\b/i;

/**
 * Meeting notes: `notes start` makes a dedicated backend conversation for the channel's meeting;
 * every human message in the channel is then captured (speaker and time, in order) into a
 * persisted queue, and added to it in batches, without running the assistant. Long
 * meetings are checkpointed; `notes summary` posts interim minutes and `notes stop` ends with one
 * minutes run, posted and attached as Markdown. Meetings stop by themselves after inactivity or a
 * maximum duration.
 */
export class Meetings implements MeetingDesk {
  private readonly dirty = new Set<string>();
  private timer?: NodeJS.Timeout;
  private sweeper?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private readonly opts: MeetingOptions;

  constructor(private readonly deps: { backend: ModelBackend; store: Store; engine: Engine; log: Logger; metrics?: Metrics; options?: Partial<MeetingOptions> }) {
    this.opts = { idleStopMs: 30 * 60_000, maxDurationMs: 4 * 3_600_000, checkpointChars: 24_000, batchMs: 1_000, ...deps.options };
  }

  /** Picks up the meetings of a previous process and starts the batch flusher and the auto-stop sweep. */
  async start(): Promise<number> {
    const resumed = await this.resume();
    this.timer ??= setInterval(() => void this.tick(), this.opts.batchMs);
    this.timer.unref();
    const every = Math.min(30_000, Math.max(1_000, this.opts.idleStopMs / 4));
    this.sweeper ??= setInterval(() => void this.sweep().catch((err: unknown) => this.deps.log.warn({ err }, 'meeting sweep failed')), every);
    this.sweeper.unref();
    return resumed;
  }

  private key(channelKey: string): string {
    return `meeting:${channelKey}`;
  }

  private queue(m: Meeting): string {
    return `meeting-lines:${m.id}`;
  }

  /** The channel's meeting, checked: a corrupt or unknown-shaped record is logged and treated as no meeting. */
  async get(channelKey: string): Promise<Meeting | undefined> {
    const m = await this.deps.store.get<(Meeting & { threadId?: string }) | null>(this.key(channelKey));
    if (m === undefined || m === null) return undefined;
    if (typeof m !== 'object' || Array.isArray(m)) return this.invalid(channelKey, typeof m);
    // meetings recorded before the backend seam name their backend conversation at the top level
    if (!m.state && typeof m.threadId === 'string') m.state = { backend: 'assistant', threadId: m.threadId };
    delete m.threadId;
    const problem =
      typeof m.id !== 'string'
        ? 'id'
        : typeof m.state !== 'object' || m.state === null || typeof m.state.backend !== 'string'
          ? 'state'
          : typeof m.target !== 'object' || m.target === null || typeof m.target.platform !== 'string'
            ? 'target'
            : typeof m.startedAt !== 'number' || typeof m.flushed !== 'number' || typeof m.chunkChars !== 'number'
              ? 'counters'
              : !Array.isArray(m.checkpoints) || typeof m.title !== 'string' || typeof m.startedBy !== 'object' || m.startedBy === null
                ? 'fields'
                : undefined;
    return problem ? this.invalid(channelKey, problem) : m;
  }

  private invalid(channelKey: string, field: string): undefined {
    this.deps.log.warn({ channel: channelKey, field }, 'stored meeting record is not valid: treated as no meeting');
    return undefined;
  }

  async isActive(channelKey: string): Promise<boolean> {
    return !!(await this.get(channelKey));
  }

  /** Adds a message to the channel's meeting, if one is running (`known`: the meeting the caller has just read). */
  async capture(m: Inbound, known?: Meeting): Promise<void> {
    if (OFF.test(m.text) || (!m.text.trim() && !m.files?.length)) return;
    const meeting = known ?? (await this.get(m.channelKey));
    if (!meeting) return;
    const time = new Date(m.at).toISOString().slice(11, 16);
    // files shared in the meeting are named in the notes and listed under the minutes (names and links, never contents)
    const shared = (m.files ?? []).map((f) => f.name);
    if (shared.length)
      await this.deps.store.listPush(
        this.filesOf(meeting),
        (m.files ?? []).map((f) => JSON.stringify({ name: f.name, by: m.author.name, at: m.at, url: f.url.split('?')[0] })),
      );
    const said = m.text.replace(/\s*\n\s*/g, ' / ');
    const line = `[${time}] ${m.author.name}: ${said}${shared.length ? `${said ? ' ' : ''}[shared ${shared.join(', ')}]` : ''}`;
    // Only the queue and a "last seen" stamp are written here; the record belongs to the flusher.
    // kept with the time it was sent: messages handled side by side can reach the queue out of order
    await this.deps.store.listPush(this.queue(meeting), [`${m.at}\t${line}`]);
    await this.deps.store.set(this.seen(m.channelKey), Date.now(), this.opts.maxDurationMs * 2);
    this.dirty.add(m.channelKey);
  }

  private filesOf(m: Meeting): string {
    return `meeting-files:${m.id}`;
  }

  /** The "Files shared" part of the minutes, from what capture recorded. */
  private async filesShared(m: Meeting): Promise<string> {
    const raw = await this.deps.store.listRange(this.filesOf(m), 0, -1);
    const files = raw.flatMap((r) => {
      try {
        const f = JSON.parse(r) as { name: string; by: string; url: string };
        return typeof f.name === 'string' ? [f] : [];
      } catch {
        return []; // a corrupt entry names no file: the rest of the list still stands
      }
    });
    if (!files.length) return '';
    return `\n\n## Files shared\n${files.map((f) => `- ${f.name.replace(/[[\]]/g, '')} (${f.by}${/^https?:\/\//.test(f.url) ? `, <${f.url}>` : ''})`).join('\n')}`;
  }

  private seen(channelKey: string): string {
    return `meeting-seen:${channelKey}`;
  }

  /** Lines captured so far: those in the backend conversation plus those still queued. */
  private async lineCount(meeting: Meeting): Promise<number> {
    return meeting.flushed + (await this.deps.store.listLength(this.queue(meeting)));
  }

  async command(m: Inbound, action: 'start' | 'stop' | 'summary' | 'status', title?: string): Promise<void> {
    switch (action) {
      case 'start':
        return this.begin(m, title);
      case 'status':
        return this.status(m);
      case 'summary':
        if (!(await this.get(m.channelKey))) return m.sink.notice('No meeting notes are being taken here. Say `notes start` to begin.');
        return this.finish(m.channelKey, m.sink, { final: false });
      case 'stop': {
        const meeting = await this.get(m.channelKey);
        if (!meeting) return m.sink.notice('No meeting notes are being taken here.');
        if (meeting.startedBy.id !== m.author.id && !m.author.isAdmin) {
          return tellPerson(m.sink, `Only ${meeting.startedBy.name}, who started these notes, or an admin can stop them.`);
        }
        return this.finish(m.channelKey, m.sink, { final: true, why: `stopped by ${m.author.name}` });
      }
    }
  }

  private async begin(m: Inbound, title?: string): Promise<void> {
    const existing = await this.get(m.channelKey);
    if (existing) {
      return m.sink.notice(`I am already taking notes here since ${clock(existing.startedAt)} (started by ${existing.startedBy.name}). Say \`notes stop\` to end them.`);
    }
    const state = await this.deps.backend.open(`meeting:${m.channelKey}`, []);
    const now = Date.now();
    const meeting: Meeting = {
      id: `${m.channelKey}:${now}`,
      channelKey: m.channelKey,
      title: title?.slice(0, 200) || `Meeting of ${new Date(now).toISOString().slice(0, 10)}`,
      startedBy: m.author,
      startedAt: now,
      target: channelTarget(m.target),
      state,
      flushed: 0,
      chunkChars: 0,
      checkpoints: [],
    };
    await this.deps.store.set(this.key(m.channelKey), meeting);
    await this.deps.store.set(this.seen(m.channelKey), now, this.opts.maxDurationMs * 2);
    await this.deps.store.setAdd(ACTIVE, m.channelKey);
    this.deps.metrics?.activeMeetings.inc();
    await m.sink.notice(
      `📝 Taking notes for **${meeting.title}**, started by ${m.author.name}. Everything said in this channel is captured from now on, thread replies included.\n` +
        `• Start a message with \`!off\` to keep it out of the notes.\n• \`notes summary\` posts interim minutes; \`notes stop\` ends with the minutes.`,
    );
  }

  private async status(m: Inbound): Promise<void> {
    const meeting = await this.get(m.channelKey);
    if (!meeting) return m.sink.notice('No meeting notes are being taken here. Say `notes start [title]` to begin.');
    const minutes = Math.max(0, Math.round((Date.now() - meeting.startedAt) / 60_000));
    const lines = await this.lineCount(meeting);
    await m.sink.notice(
      `📝 Taking notes for **${meeting.title}** since ${clock(meeting.startedAt)} (${minutes} min), started by ${meeting.startedBy.name}: ${lines} line${lines === 1 ? '' : 's'} captured.`,
    );
  }

  private work<T>(channelKey: string, fn: () => Promise<T>): Promise<T> {
    return withLock(this.deps.store, `meeting-work:${channelKey}`, fn, { ttlMs: 30_000, waitMs: 10 * 60_000 });
  }

  /** Adds queued lines to the meeting's backend conversation: one Message.create per batch. */
  async flush(channelKey: string): Promise<void> {
    await this.work(channelKey, async () => {
      const meeting = await this.get(channelKey);
      if (meeting) await this.drain(meeting, true);
    });
  }

  /** Moves the queue into the backend conversation, checkpointing full chunks. Call under the work lock. */
  private async drain(start: Meeting, persist: boolean): Promise<Meeting> {
    let meeting = start;
    for (;;) {
      const lines = await this.deps.store.listRange(this.queue(meeting), 0, MAX_BATCH - 1);
      if (lines.length === 0) return meeting;
      const content = inTimeOrder(lines).join('\n');
      const upto: number = meeting.flushed + lines.length;
      const state = await this.deps.backend.add(meeting.state, [{ text: content, authorId: 'meeting', authorName: 'meeting', at: Date.now(), metadata: { meeting_lines_upto: String(upto) } }]);
      meeting = { ...meeting, state, flushed: upto, chunkChars: meeting.chunkChars + content.length };
      if (persist) await this.deps.store.set(this.key(meeting.channelKey), meeting);
      await this.deps.store.listDropFront(this.queue(meeting), lines.length);
      if (meeting.chunkChars >= this.opts.checkpointChars) meeting = await this.checkpoint(meeting, persist);
    }
  }

  /** Summarises the current chunk and starts a fresh backend conversation for the next one. */
  private async checkpoint(meeting: Meeting, persist: boolean): Promise<Meeting> {
    const summary = await this.runOnce(meeting.state, CHECKPOINT_INSTRUCTIONS);
    const state = await this.deps.backend.open(`meeting:${meeting.channelKey}:part${meeting.checkpoints.length + 2}`, []);
    const next: Meeting = { ...meeting, state, chunkChars: 0, checkpoints: [...meeting.checkpoints, summary] };
    if (persist) await this.deps.store.set(this.key(meeting.channelKey), next);
    this.deps.log.info({ meeting: meeting.id, part: next.checkpoints.length }, 'meeting checkpoint');
    return next;
  }

  /** One turn on the meeting's conversation with the given instructions and no local tools; its text. */
  private async runOnce(state: ConversationState, instructions: string, additional?: string): Promise<string> {
    const events: AsyncIterable<TurnEvent> = this.deps.backend.turn(state, {
      signal: AbortSignal.timeout(5 * 60_000),
      functions: 'none',
      instructions,
      additionalInstructions: additional,
      // minutes need no tools: a function the assistant itself declares gets an error output
      runTools: async (calls) => calls.map((c) => ({ id: c.id, output: JSON.stringify({ error: 'tools are not available while writing minutes' }) })),
    });
    for await (const ev of events) if (ev.type === 'done') return ev.text;
    throw new Error('the minutes turn ended without an answer');
  }

  /**
   * Minutes: interim (`final: false`, capture goes on) or final (capture ends first, so no line
   * can slip in after the last flush; lines already queued still reach the minutes).
   */
  async finish(channelKey: string, sink: ReplySink, opts: { final: boolean; why?: string }): Promise<void> {
    let meeting: Meeting | undefined;
    try {
      const text = await this.work(channelKey, async () => {
        meeting = await this.get(channelKey);
        if (!meeting) return undefined;
        if (opts.final) {
          await this.deps.store.delete(this.key(channelKey));
          await this.deps.store.setRemove(ACTIVE, channelKey);
          this.dirty.delete(channelKey);
          this.deps.metrics?.activeMeetings.dec();
          await sink.notice(`📝 Notes for **${meeting.title}** ${opts.why ?? 'stopped'}. Writing the minutes…`);
        }
        meeting = await this.drain(meeting, !opts.final);
        return this.runOnce(meeting.state, MINUTES_INSTRUCTIONS, earlierParts(meeting.checkpoints));
      });
      if (!meeting || text === undefined) return;
      const title = `${opts.final ? 'Minutes' : 'Interim minutes'}: ${meeting.title}`;
      const when = `${new Date(meeting.startedAt).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
      const lines = meeting.flushed;
      const body = `# ${title}\n\n_${when}, started by ${meeting.startedBy.name}, ${lines} line${lines === 1 ? '' : 's'}._\n\n${text}${await this.filesShared(meeting)}`;
      if (opts.final) {
        const name = this.filesOf(meeting);
        await this.deps.store.listDropFront(name, await this.deps.store.listLength(name));
      }
      const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-');
      await postMinutes(sink, { title, text: body, file: { filename: `minutes-${stamp}.md`, bytes: new TextEncoder().encode(`${body}\n`), contentType: 'text/markdown' } });
    } catch (err) {
      this.deps.log.warn({ err, meeting: channelKey }, 'minutes failed');
      await sink.fail(`I could not write the minutes. ${humanMessage(err)}`);
    }
  }

  /** After a restart: reconcile what reached the backend conversation and go on flushing. */
  private async resume(): Promise<number> {
    const keys = await this.deps.store.setMembers(ACTIVE);
    for (const channelKey of keys) {
      const meeting = await this.get(channelKey);
      if (!meeting) {
        await this.deps.store.setRemove(ACTIVE, channelKey);
        continue;
      }
      // A batch may have reached the thread just before the process died: its metadata says how far.
      // (where the backend's state is kept in the record itself, there is nothing to reconcile)
      const upto = Number((await this.deps.backend.lastMark?.(meeting.state, 'meeting_lines_upto')) ?? 0);
      if (upto > meeting.flushed) {
        await this.deps.store.listDropFront(this.queue(meeting), upto - meeting.flushed);
        await this.deps.store.set(this.key(channelKey), { ...meeting, flushed: upto });
      }
      this.dirty.add(channelKey);
    }
    this.deps.metrics?.activeMeetings.set(keys.length);
    return keys.length;
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = (async () => {
      for (const channelKey of [...this.dirty]) {
        try {
          await this.flush(channelKey);
          const meeting = await this.get(channelKey);
          if (!meeting || (await this.deps.store.listLength(this.queue(meeting))) === 0) this.dirty.delete(channelKey);
        } catch (err) {
          this.deps.log.warn({ err, meeting: channelKey }, 'meeting flush failed; will retry');
        }
      }
    })().finally(() => (this.ticking = undefined));
    await this.ticking;
  }

  /** Flushes every meeting with queued lines now (shutdown, tests). */
  async flushAll(): Promise<void> {
    while (this.ticking) await this.ticking;
    await this.tick();
  }

  /** Stops meetings that went quiet or ran too long, posting their minutes. */
  async sweep(now = Date.now()): Promise<void> {
    for (const channelKey of await this.deps.store.setMembers(ACTIVE)) {
      const meeting = await this.get(channelKey);
      if (!meeting) continue;
      const lastSeen = (await this.deps.store.get<number>(this.seen(channelKey))) ?? meeting.startedAt;
      const idle = now - lastSeen >= this.opts.idleStopMs;
      const tooLong = now - meeting.startedAt >= this.opts.maxDurationMs;
      if (!idle && !tooLong) continue;
      const sink = this.deps.engine.sinkFor(meeting.target);
      if (!sink) continue; // another instance serves that platform
      await this.finish(channelKey, sink, { final: true, why: tooLong ? 'reached the maximum meeting length' : `stopped after ${Math.round(this.opts.idleStopMs / 60_000)} minutes without messages` });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.sweeper);
    // lines not flushed stay queued in the store: the next start takes them
    await this.flushAll().catch((err: unknown) => this.deps.log.warn({ err }, 'could not flush meeting notes while stopping'));
  }
}

function clock(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 16)} UTC`;
}

/** The channel itself (not a thread under a mention) for posting minutes. */
function channelTarget(t: ReplyTarget): ReplyTarget {
  const { threadTs: _t, messageTs: _m, replyTo: _r, interaction: _i, ...rest } = t as ReplyTarget & Record<string, unknown>;
  return rest;
}

/** Queued lines (`<sent at ms>\t<line>`) in the order they were sent; a stable sort, so equal times keep their arrival order. */
export function inTimeOrder(queued: string[]): string[] {
  let at = 0;
  const entries = queued.map((q, i) => {
    const tab = q.indexOf('\t');
    const t = tab > 0 ? Number(q.slice(0, tab)) : NaN;
    // a line queued without its time (by an older version) keeps its place after the one before it
    if (Number.isFinite(t)) at = t;
    return { at, i, line: Number.isFinite(t) ? q.slice(tab + 1) : q };
  });
  entries.sort((a, b) => a.at - b.at || a.i - b.i);
  return entries.map((e) => e.line);
}
