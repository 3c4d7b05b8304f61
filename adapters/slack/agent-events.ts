import type { EnginePort } from '../../src/engine/port.js';
import type { Logger } from '../../src/log.js';
import type { Store } from '../../src/store/index.js';
import { SUGGESTED_PROMPTS, agentContextKey, aiThreadKey, type AgentContext, type AiThread, type AiThreadEvent } from './agent.js';
import { slackError, type SlackCapabilities } from './capabilities.js';
import { slackKeys } from './key.js';
import type { Workspaces } from './workspaces.js';
import type { SlackEventHandler } from './events.js';

/**
 * Slack's AI surfaces: assistant threads (suggested prompts, a greeting, what the person looks at)
 * and the agent messaging experience (agent_view: prompts in the DM, app context, the Stop button).
 */
export function agentEventHandlers(d: {
  store: Store;
  log: Logger;
  engine: EnginePort;
  caps: SlackCapabilities;
  allowed: (team: string, channel: string) => boolean;
  teamOf: (body: unknown) => string;
  workspaces: Workspaces;
  track: <T>(p: Promise<T>) => Promise<T>;
}): Record<string, SlackEventHandler> {
  // Slack's AI app surface: a new assistant thread gets a greeting and suggested prompts; the container tells which channel the person looks at.
  const rememberAiThread = (t: AiThreadEvent['assistant_thread']) => d.store.set<AiThread>(aiThreadKey(t.channel_id, t.thread_ts), { context: t.context ?? {} }, 30 * 86_400_000);
  const handlers: Record<string, SlackEventHandler> = {};
  const aiAllowed = (body: unknown, t: AiThreadEvent['assistant_thread'] | undefined) => !!t?.channel_id && d.allowed(d.teamOf(body), t.channel_id);
  handlers.assistant_thread_context_changed = async ({ event, body }) => {
    const t = (event as unknown as AiThreadEvent).assistant_thread;
    if (!aiAllowed(body, t)) return; // SLACK_TEAM_IDS holds for the AI app surface too
    await rememberAiThread(t);
  };
  handlers.assistant_thread_started = async ({ event, client, body }) => {
    const t = (event as unknown as AiThreadEvent).assistant_thread;
    if (!aiAllowed(body, t)) return;
    await rememberAiThread(t);
    try {
      await client.apiCall('assistant.threads.setSuggestedPrompts', {
        channel_id: t.channel_id,
        thread_ts: t.thread_ts,
        prompts: SUGGESTED_PROMPTS,
      });
      await client.chat.postMessage({ channel: t.channel_id, thread_ts: t.thread_ts, text: 'Hi! Ask me anything. I remember this thread, so you can follow up.' });
    } catch (err) {
      d.log.warn({ err: { message: (err as Error).message } }, 'could not greet a new assistant thread');
    }
  };

  // The agent messaging experience (agent_view). Payload shapes: docs.slack.dev and the Chat SDK's
  // recordings (vercel/chat packages/adapter-slack/sample-messages.md); no recording of our own yet.
  handlers.app_home_opened = async ({ event, body, client }) => {
    const e = event as unknown as { tab?: string; channel?: string; user?: string };
    const team = d.teamOf(body);
    if (e.tab !== 'messages' || !e.channel || !d.allowed(team, e.channel)) return;
    // this replaces assistant_thread_started: suggested prompts at the top of the agent conversation, once a day per DM
    if (!(await d.store.claim(`slack-prompts:${team}:${e.channel}`, 86_400_000))) return;
    await client
      .apiCall('assistant.threads.setSuggestedPrompts', { channel_id: e.channel, prompts: SUGGESTED_PROMPTS })
      .catch((err: unknown) => d.log.warn({ err: { message: (err as Error).message } }, 'could not set suggested prompts'));
  };
  handlers.app_context_changed = async ({ event, body }) => {
    const e = event as unknown as { channel?: string; context?: AgentContext };
    const team = d.teamOf(body);
    if (!e.channel || !e.context || !d.allowed(team, e.channel)) return;
    await d.store.set(agentContextKey(team, e.channel), e.context, 30 * 86_400_000);
  };
  handlers.agent_session_stopped = async ({ event, body }) => {
    // The person clicked Stop: Slack already stopped the listed streams; the turn stops at once,
    // here or on the instance running it (the engine tells the others).
    const e = event as unknown as { channel?: string; thread_ts?: string; streaming_message_ts?: string[]; user?: string };
    const team = d.teamOf(body);
    if (!e.channel || !e.thread_ts || !d.allowed(team, e.channel)) return;
    for (const ts of e.streaming_message_ts ?? []) d.caps.stoppedStreams.add(ts);
    const key = slackKeys.encode({ team, channel: e.channel, threadTs: e.thread_ts });
    const stopped = await d.track(d.engine.stop(key));
    d.log.info({ conversation: key, user: e.user, stopped }, 'agent session stopped by the person');
    if (!stopped) {
      // nothing was running: the session must still leave `processing` (Slack does not change it)
      await d.workspaces
        .client(team)
        .apiCall('agents.sessions.setStatus', { channel_id: e.channel, thread_ts: e.thread_ts, status: 'active' })
        .catch((err: unknown) => d.log.warn({ err: slackError(err), conversation: key }, 'could not mark the stopped session active'));
    }
  };
  handlers.agent_session_title_changed = async ({ event }) => {
    // The person renamed the session; Threadline keeps no title of its own, so there is nothing to update.
    d.log.debug({ event: (event as { type?: string }).type }, 'agent session renamed');
  };
  return handlers;
}
