import type { ConversationKeyCodec } from './conversation-key.js';

/**
 * The neutral shapes adapters and the engine share. Nothing here knows Slack or Discord.
 */

/** Where a reply goes: platform-specific ids, stored with the conversation so a restarted process can still answer. */
export interface ReplyTarget {
  /** The adapter that serves it (the prefix of its conversation keys). */
  platform: string;
  [field: string]: string | number | boolean | undefined;
}

export interface Author {
  id: string;
  /** Display name as people see it in the chat. */
  name: string;
  /** May stop anyone's meeting or run (workspace/guild admins). */
  isAdmin?: boolean;
  /** May change how a channel is set up (its assistant): Slack workspace admins and owners, Discord members with Manage Channels. */
  mayConfigure?: boolean;
}

export type InboundKind =
  /** Addressed to the bot: a mention, a DM, a thread it is part of, or a slash command. */
  | 'mention'
  | 'dm'
  | 'thread'
  | 'command'
  /** A channel message not addressed to the bot: only meeting capture looks at it. */
  | 'ambient';

/** One message from a person, as every adapter delivers it. */
export interface Inbound {
  /** Conversation key: `<platform>:<space>:<channel>[:<thread>]`, written by the adapter's codec (see conversation-key.ts). */
  key: string;
  target: ReplyTarget;
  author: Author;
  /** The text with the bot's mention removed. */
  text: string;
  kind: InboundKind;
  /** Unique per message on its platform; a repeat of it is dropped (retries, duplicate events). */
  eventId: string;
  /** The adapter already claimed `eventId` with Engine.claimEvent (early dedupe). */
  claimed?: boolean;
  /** More than two people may talk here, so the assistant should be told who is speaking. */
  group: boolean;
  /** The channel a meeting would run in (e.g. `slack:T1:C1`). */
  channelKey: string;
  /** When the person sent it (ms). */
  at: number;
  /** Platform ids, kept in the Assistant message's metadata. */
  metadata?: Record<string, string>;
  /** What the person has in view as they write (Slack's AI app: the channel beside the thread), told to the model for this turn. */
  context?: string;
  /** Files shared with the message, as the platform describes them: fetched when the turn starts. */
  files?: SharedFileRef[];
  sink: ReplySink;
}

/** A file a person shared, as the platform describes it (nothing is downloaded yet). */
export interface SharedFileRef {
  name: string;
  /** The media type the platform gives (Slack's `mimetype`, Discord's `content_type`). */
  contentType: string;
  /** Bytes, as the platform declares them. */
  size: number;
  /** Where the platform serves it (Slack's url_private_download, Discord's signed CDN URL). */
  url: string;
  /** Why the platform will not hand it over, when it says so up front (a Slack Connect file, a tombstone). */
  unavailable?: string;
  /** The platform's space it was shared in (a Slack workspace): the adapter downloads it with that space's credentials. */
  space?: string;
}

/** A shared file's bytes, exactly as sent. */
export interface SharedFile {
  name: string;
  contentType: string;
  bytes: Uint8Array;
}

export interface ReplyImage {
  bytes: Uint8Array;
  filename: string;
  contentType: string;
  alt: string;
  /** Where it came from, for a fallback link. */
  url: string;
}

export interface CodeStep {
  input: string;
  output: string;
}

export type TurnStatus = { kind: 'thinking' } | { kind: 'tool'; name: string };

export interface FinalReply {
  /** Markdown, with downloaded image URLs replaced by short captions. */
  text: string;
  images: ReplyImage[];
  /** The backend's id of the turn (feedback on the reply names it). */
  turnId?: string;
  /**
   * The sink calls it once the answer is all on the platform (text and files), before cosmetic
   * work such as clearing a status: the engine records it, so a crash after this point is not
   * taken for a crash while posting. A sink that does not call it is taken to be done when `finish` resolves.
   */
  delivered?: () => Promise<void>;
}

/**
 * Where a reply already is on its platform, in the sink's own shape (JSON: message ids, how much
 * they hold). The engine keeps it with the turn and hands it back to `PlatformPort.sinkFor`.
 */
export type ReplyPlace = Record<string, unknown>;

export interface MinutesReply {
  title: string;
  /** Markdown minutes. */
  text: string;
  /** The same minutes as a file. */
  file: { filename: string; bytes: Uint8Array; contentType: string };
}

/**
 * How the engine talks back on a platform. A sink is for one inbound message (or one stored
 * target after a restart); every turn ends in exactly one `finish` or `fail`.
 *
 * Three methods are required of every platform; the rest are capabilities the engine asks about
 * (`sink.text?.(…)`) and does without: no streaming means the answer arrives whole, no `code`
 * means code steps are shown as Markdown notices, no `minutes` means the minutes come as a notice.
 */
export interface ReplySink {
  /** The final answer, with images to upload natively. */
  finish(reply: FinalReply): Promise<void>;
  /** A short informational message (command answers, notices). */
  notice(text: string): Promise<void>;
  /** A turn that failed: a short, human message. */
  fail(text: string): Promise<void>;
  /** Capability: progress while the run works (typing indicator, status line, reaction…). */
  status?(status: TurnStatus): Promise<void>;
  /** Capability: streaming. The reply so far (the whole text, not a delta); the sink throttles. */
  text?(soFar: string): Promise<void>;
  /** Capability: a code interpreter step shown the platform's way (a task card, an attachment for long output). */
  code?(step: CodeStep): Promise<void>;
  /** Capability: meeting minutes posted with the same minutes as a file. */
  minutes?(minutes: MinutesReply): Promise<void>;
  /** Capability: a short message only the person who wrote sees (Slack's ephemeral messages); without it, a notice. */
  whisper?(text: string): Promise<void>;
  /**
   * Capability: the message waits behind a backlog for a free slot: show the usual working
   * indicator once, if the platform's budget allows it now, and keep nothing (no timer, no state:
   * the sink is dropped and the turn builds its own from the stored target).
   */
  waiting?(): Promise<void>;
  /**
   * Capability: where the reply is so far, when the sink could finish it in place after a
   * restart (complete or replace what is out, never post it twice); undefined when it could not.
   * Asked just before the reply's last part goes out; the sink first lets what it is sending land.
   */
  place?(): Promise<ReplyPlace | undefined>;
  /**
   * Capability, with `place`: the sink tells `changed` each time its place changes (a message
   * started, the last words in, a file up, or no place any more), so a process that dies while
   * posting leaves the reply where a restart can complete it.
   */
  watchPlace?(changed: (place: ReplyPlace | undefined) => Promise<void>): void;
}

/** What an adapter offers the engine besides inbound messages. */
export interface PlatformPort {
  /** How its conversation keys are written and read. */
  readonly keys: ConversationKeyCodec<unknown>;
  /**
   * A sink for a stored target (recovery after a restart, meeting auto-stop). With `place` (what
   * an earlier sink's `place()` said), one that finishes that reply in place instead of posting anew.
   */
  sinkFor(target: ReplyTarget, place?: ReplyPlace): ReplySink;
  /**
   * Downloads a shared file from the platform's own hosts, with the platform's credentials and no
   * further than `maxBytes`; throws an error whose message says why not. Optional: a platform
   * without it has its files refused with a short line.
   */
  fetchFile?(file: SharedFileRef, maxBytes: number): Promise<SharedFile>;
}
