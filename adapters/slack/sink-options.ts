import type { SlackPlace } from './place.js';
import type { SlackCapabilities } from './capabilities.js';

/** How a Slack reply sink behaves (the adapter's settings, the outbound scheduler's slots). */
export interface SlackSinkOptions {
  /** Minimum time between message edits (default 1 s). */
  editIntervalMs?: number;
  onReply?: (type: string) => void;
  caps?: SlackCapabilities;
  /** How often the assistant-thread status is sent again while a turn works (Slack clears it after about two minutes; default 90 s). */
  statusRefreshMs?: number;
  /** Takes a rate-limit slot for a call about to be made if it would wait at most `maxWaitMs`, keeping `headroom` (a share of the budget) free (the outbound scheduler). */
  reserve?: (method: string, maxWaitMs: number, headroom?: number) => boolean;
  /** Whether a waiting message may show the working indicator in this channel now (the adapter lets one through per channel every few seconds). */
  mayShowWaiting?: (channel: string) => boolean;
  /** A reply an earlier process was posting when it stopped (its `place()`): this sink completes it in place. */
  continues?: SlackPlace;
}

/** A reply whose chat.startStream would wait longer than this for its slot is posted and edited instead. */
export const STREAM_START_MAX_WAIT_MS = 2_000;
/** Share of a method's budget that intermediate updates leave to final ones: under pressure a reply updates less often, in bigger pieces. */
export const FINAL_HEADROOM = 0.25;
/** Share of a budget a waiting message's indicator leaves to turns being answered: it is shown only when Slack has room to spare. */
export const WAITING_HEADROOM = 0.5;
