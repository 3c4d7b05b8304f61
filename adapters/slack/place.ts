import { createHash } from 'node:crypto';

/**
 * Where a streamed reply is (SlackSink.place): its streamed messages in order, a digest of the
 * text they hold, and how many of its files are up.
 */
export type SlackPlace = {
  streams: string[];
  digest: string;
  uploads: number;
};

/** A place read back from the store, checked (it crossed a process boundary): undefined when it is not one. */
export function slackPlaceOf(place: Record<string, unknown> | undefined): SlackPlace | undefined {
  if (!place) return undefined;
  const { streams, digest, uploads } = place;
  if (!Array.isArray(streams) || !streams.length || !streams.every((ts) => typeof ts === 'string' && /^\d+\.\d+$/.test(ts))) return undefined;
  if (typeof digest !== 'string' || typeof uploads !== 'number' || !Number.isInteger(uploads) || uploads < 0) return undefined;
  return { streams: streams as string[], digest, uploads };
}

/** A short digest of a reply's text (kept in the store, compared after a restart; the text itself is not kept). */
export function digestOf(text: string): string {
  return createHash('sha256').update(text.trimEnd()).digest('base64url').slice(0, 22);
}
