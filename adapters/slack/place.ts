import { createHash } from 'node:crypto';

/**
 * Where a reply is (SlackSink.place): its streamed messages in order, a digest of the text they
 * hold, how many of its files are up, and the messages it was posted in and edited (where Slack
 * did not stream it, or past a stream the person stopped), whose text a restart always rewrites.
 */
export type SlackPlace = {
  streams: string[];
  digest: string;
  uploads: number;
  posted?: string[];
};

const isTsList = (v: unknown): v is string[] => Array.isArray(v) && v.every((ts) => typeof ts === 'string' && /^\d+\.\d+$/.test(ts));

/** A place read back from the store, checked (it crossed a process boundary): undefined when it is not one. */
export function slackPlaceOf(place: Record<string, unknown> | undefined): SlackPlace | undefined {
  if (!place) return undefined;
  const { streams, digest, uploads, posted } = place;
  if (!isTsList(streams) || (posted !== undefined && !isTsList(posted)) || !(streams.length || posted?.length)) return undefined;
  if (typeof digest !== 'string' || typeof uploads !== 'number' || !Number.isInteger(uploads) || uploads < 0) return undefined;
  return { streams, digest, uploads, ...(posted?.length ? { posted } : {}) };
}

/** A short digest of a reply's text (kept in the store, compared after a restart; the text itself is not kept). */
export function digestOf(text: string): string {
  return createHash('sha256').update(text.trimEnd()).digest('base64url').slice(0, 22);
}
