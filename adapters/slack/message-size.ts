/** How long one Slack message may be, and where a streamed one should end. */

/** Slack's mrkdwn `text` is best kept under 4,000 characters per message. */
export const SLACK_MESSAGE_LIMIT = 3_500;
/** `markdown_text` (chat.startStream and appendStream) takes 12,000 characters per message. */
export const STREAM_MESSAGE_LIMIT = 12_000;
/** A stream older than this goes on in a new message (Slack ends streams it has not heard from). */
export const STREAM_MAX_AGE_MS = 4 * 60_000;
/** Code output longer than this is attached as a file. */
export const LONG_OUTPUT = 2_500;

/**
 * Where a streamed message that starts at `base` should end: all of the text when it fits, else at
 * a clean break (paragraph, else line, else space) before `markdown_text`'s 12,000 characters.
 */
export function messageEnd(text: string, base: number): { end: number; full: boolean } {
  const room = STREAM_MESSAGE_LIMIT - FENCE_ROOM;
  if (text.length - base <= room) return { end: text.length, full: false };
  const window = text.slice(base, base + room);
  // the last paragraph break in the second half of the window, else the last line break, else the last space
  for (const [mark, after] of [
    ['\n\n', 2],
    ['\n', 1],
    [' ', 1],
  ] as const) {
    const cut = window.lastIndexOf(mark) + after;
    if (cut > room / 2) return { end: base + cut, full: true };
  }
  return { end: base + room, full: true };
}

/** Kept free in each streamed message for a code fence closed at its end and reopened at the next one's start. */
export const FENCE_ROOM = 48;
