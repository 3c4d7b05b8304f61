import type { Attachment, Collection } from 'discord.js';
import { DownloadGuard } from '../../src/engine/downloads.js';
import type { SharedFile, SharedFileRef } from '../../src/engine/types.js';

/** A message's attachments as the engine takes them (Discord's `attachments[]`: url with its signed query string, content_type, size, filename). */
export function discordFiles(attachments: Collection<string, Attachment> | undefined): SharedFileRef[] | undefined {
  if (!attachments || attachments.size === 0) return undefined;
  return [...attachments.values()].slice(0, 10).map((a) => ({
    name: (a.name || 'file').slice(0, 200),
    // Discord leaves content_type out for types it does not know
    contentType: (a.contentType ?? '').split(';')[0].trim().toLowerCase(),
    size: a.size,
    url: a.url,
  }));
}

/**
 * Downloads an attachment from Discord's CDN (DISCORD_CDN_HOSTS) and nowhere else, with no
 * credentials: the signed URL is the permission (docs/discord.md §2).
 */
export function discordFileFetcher(opts: { hosts: string[]; timeoutMs?: number }): (ref: SharedFileRef, maxBytes: number) => Promise<SharedFile> {
  const guard = new DownloadGuard({ hosts: opts.hosts, hostsVariable: 'DISCORD_CDN_HOSTS', timeoutMs: opts.timeoutMs ?? 30_000 });
  return async (ref, maxBytes) => {
    const got = await guard.download(ref.url, { maxBytes, accept: () => undefined });
    return { name: ref.name, contentType: ref.contentType || got.contentType, bytes: got.bytes };
  };
}
