import type { TurnStatus } from '../../src/engine/types.js';
import { NO_SESSIONS, type SlackCapabilities } from './capabilities.js';
import type { SlackTarget } from './inbound.js';

type Call = (method: string, args: Record<string, unknown>, quiet?: Set<string>) => Promise<{ ok: boolean; error?: string }>;

/**
 * What a person sees while a turn works, and its clean-up: the thread's agent session
 * (`processing`, with Slack's Stop button, then `active`), else the AI app's assistant status
 * (sent again while a long tool call outlives it), else a 👀 reaction on their message.
 */
export class SlackProgress {
  /** The session is `processing` (set by us, not yet moved on). */
  private session = false;
  /** A session was opened for this turn (it can be renamed once the answer's heading is known). */
  private opened = false;
  private statusSet = false;
  private reacted = false;
  private refresh?: NodeJS.Timeout;

  constructor(
    private readonly target: SlackTarget,
    private readonly caps: SlackCapabilities,
    private readonly call: Call,
    /** How often the assistant status is sent again (Slack clears it after about two minutes; default 90 s). */
    private readonly refreshMs = 90_000,
  ) {}

  async show(s: TurnStatus): Promise<void> {
    const { channel, threadTs, messageTs } = this.target;
    if (this.caps.agentView && threadTs && !this.caps.noSessions.has(this.target.team)) {
      if (this.session) return;
      const res = await this.call(
        'agents.sessions.setStatus',
        {
          channel_id: channel,
          thread_ts: threadTs,
          status: 'processing',
          ...(this.target.title ? { title: this.target.title.slice(0, 200) } : {}),
          ...(this.target.user ? { initiator_user_id: this.target.user } : {}),
        },
        NO_SESSIONS,
      );
      if (res.ok) {
        this.session = this.opened = true;
        return;
      }
      if (res.error && NO_SESSIONS.has(res.error)) this.caps.noSessions.add(this.target.team);
    }
    if (this.target.assistantThread && threadTs) {
      const args = { channel_id: channel, thread_ts: threadTs, status: s.kind === 'thinking' ? 'is thinking…' : `is using ${s.name}…` };
      if ((await this.call('assistant.threads.setStatus', args)).ok) {
        this.statusSet = true;
        // a long tool call outlives the status: send it again until the turn ends
        clearInterval(this.refresh);
        this.refresh = setInterval(() => void this.call('assistant.threads.setStatus', args), this.refreshMs);
        this.refresh.unref();
        return;
      }
    }
    if (!this.reacted && messageTs) {
      this.reacted = true;
      await this.call('reactions.add', { channel, timestamp: messageTs, name: 'eyes' });
    }
  }

  /** Shown once for a message waiting in a backlog: the same indicator, no refresh timer (the turn shows its own when it starts). */
  async waiting(): Promise<void> {
    await this.show({ kind: 'thinking' });
    clearInterval(this.refresh);
    this.refresh = undefined;
  }

  /**
   * A better title than the person's first words, when one is known: a short opening ("hi",
   * "question") is replaced by the heading the answer opens with.
   */
  async rename(text: string): Promise<void> {
    if (!this.opened || !this.target.threadTs || (this.target.title?.length ?? 0) >= 16) return;
    const heading = /^#{1,3}[ \t]+(.{3,200}?)[ \t#]*$/m.exec(text.split('\n', 1)[0] ?? '')?.[1];
    if (!heading) return;
    await this.call('agents.sessions.rename', { channel_id: this.target.channel, thread_ts: this.target.threadTs, title: heading.replace(/[*_`]/g, '') });
  }

  /**
   * A chat.stopStream in this thread succeeded: Slack moves the session out of `processing` itself
   * (the `agent_session_stopped` reference: "transition the session away from processing using
   * either agents.sessions.setStatus or chat.stopStream"), so `clear` need not. Which status it
   * moves to is not documented; the fake takes `active`. With `more`, the reply goes on in a new
   * message: the session is shown working again (one call per 12,000-character message).
   */
  async streamStopped(more = false): Promise<void> {
    if (!this.session) return;
    this.session = false;
    if (more) await this.show({ kind: 'thinking' });
  }

  /** The turn is over: the session goes back to `active` (unless a stopped stream did that), the status and the 👀 go. */
  async clear(): Promise<void> {
    const { channel, threadTs, messageTs } = this.target;
    clearInterval(this.refresh);
    this.refresh = undefined;
    if (this.session && threadTs) await this.call('agents.sessions.setStatus', { channel_id: channel, thread_ts: threadTs, status: 'active' });
    if (this.statusSet && threadTs) await this.call('assistant.threads.setStatus', { channel_id: channel, thread_ts: threadTs, status: '' });
    if (this.reacted && messageTs) await this.call('reactions.remove', { channel, timestamp: messageTs, name: 'eyes' });
    this.session = this.statusSet = this.reacted = false;
  }
}
