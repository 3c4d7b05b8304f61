/** What one Slack adapter learned about its workspaces; each adapter has its own (never module state). */
export interface SlackCapabilities {
  /** Workspaces where chat.startStream is unknown (older plans, Enterprise Grid settings): post and update there. */
  noStreaming: Set<string>;
  /** Workspaces (or apps) without agent sessions (not declared an agent, older apps): status and reactions there. */
  noSessions: Set<string>;
  /** Streaming messages Slack stopped (the person clicked Stop): nothing more is appended to them. */
  stoppedStreams: Set<string>;
  /** The app uses the agent messaging experience. */
  agentView: boolean;
}

export function newCapabilities(agentView: boolean): SlackCapabilities {
  return { noStreaming: new Set(), noSessions: new Set(), stoppedStreams: new Set(), agentView };
}

/** Errors that say this workspace or app has no agent sessions: fall back to status and reactions, quietly (docs/slack.md §2). */
export const NO_SESSIONS = new Set([
  'unknown_method',
  'method_deprecated',
  'not_authorized',
  'not_allowed_token_type',
  'missing_scope',
  'not_an_agent',
  'invalid_arguments',
  'feature_not_enabled',
  'team_not_enabled',
]);
/** The bot cannot post in this channel: it is not a member (or cannot see it). */
export const NOT_IN_CHANNEL = new Set(['not_in_channel', 'channel_not_found']);
export const INVITE_HINT = 'I am not a member of this channel, so only you can see this. Invite me with `/invite @Threadline` to get answers in the channel, or ask me in a DM.';
/** A streaming message that is no longer streaming (stopped by the person, or timed out at Slack). The code is not documented: docs/slack.md §3. */
export const STREAM_GONE = new Set(['message_not_in_streaming_state', 'message_not_found', 'streaming_state_conflict']);

/** The Slack error code of a Web API error (no token, no request body). */
export function slackError(err: unknown): { code?: string; message: string } {
  const e = err as { data?: { error?: string }; code?: string; message?: string };
  return { code: e?.data?.error ?? e?.code, message: String(e?.data?.error ?? e?.message ?? err) };
}
