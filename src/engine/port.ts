import type { Inbound } from './types.js';

/**
 * What an adapter may ask of the engine: the narrow side of it, so an adapter depends on this
 * and not on the concrete `Engine` (tests or another engine could stand behind it).
 */
export interface EnginePort {
  /** Handles one inbound message. Never throws: failures become a short message in the chat and a log line. */
  receive(m: Inbound): Promise<void>;
  /** Claims a message id: true the first time, false for every repeat (pass `claimed` on the Inbound after). */
  claimEvent(eventId: string): Promise<boolean>;
  /** Whether an event a dead instance acknowledged still needs handling. */
  needsReplay(eventId: string): Promise<boolean>;
  /** Whether channel messages not addressed to the bot matter in this channel (a meeting takes notes there). */
  wantsAmbient(channelKey: string): Promise<boolean>;
  /** Whether a conversation exists at `key` (a thread the bot is part of). */
  hasConversation(key: string): Promise<boolean>;
  /** Stops the answer in progress in a conversation (here or on another instance); false when nothing runs. */
  stop(key: string): Promise<boolean>;
  /** A space removed the app (a Slack workspace uninstalled it): its conversations are forgotten; returns how many. */
  forgetSpace(platform: string, space: string): Promise<number>;
  /** Resolves when no turn is running or queued (tests and shutdown). */
  idle(): Promise<void>;
}
