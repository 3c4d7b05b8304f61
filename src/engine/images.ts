import type { LookupFunction } from 'node:net';
import { DownloadGuard, DownloadRefused } from './downloads.js';
import type { ReplyImage } from './types.js';

/** A reference to an image found in the assistant's text. */
export interface ImageRef {
  url: string;
  alt: string;
  /** The exact text that referred to it (markdown image or bare URL). */
  match: string;
  markdown: boolean;
}

// Bounded quantifiers (alt text 500, URL 2,048, title 300 characters): unbounded ones rescan to the
// end of the text for every `![`, 0.8 s on 40,000 characters of hostile text (issue 19).
const MARKDOWN_IMAGE = /!\[([^\]\n]{0,500})\]\((<?)(https?:\/\/[^\s)>]{1,2048})>?(?:\s+"[^"\n]{0,300}")?\)/g;
const BARE_URL = /(?<![(<["'=])\bhttps?:\/\/[^\s<>()\]"'`]+/g;
const IMAGE_PATH = /\.(png|jpe?g|gif|webp|bmp)$/i;

/**
 * Finds images in the text: markdown images, and bare URLs that look like images (an image file
 * extension) or sit on an allowed image host (DashScope results carry signed query strings).
 */
export function findImageRefs(text: string, isAllowedHost: (host: string) => boolean = () => false): ImageRef[] {
  const refs: ImageRef[] = [];
  const seen = new Set<string>();
  for (const m of text.matchAll(MARKDOWN_IMAGE)) {
    refs.push({ url: m[3], alt: m[1].trim() || 'image', match: m[0], markdown: true });
    seen.add(m[3]);
  }
  const withoutMarkdown = text.replace(MARKDOWN_IMAGE, '').replace(/\[[^\]\n]{0,500}\]\([^)\s]{0,2048}\)/g, '');
  for (const m of withoutMarkdown.matchAll(BARE_URL)) {
    const url = m[0].replace(/[.,;:!?]+$/, '');
    if (seen.has(url)) continue;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      continue; // not a URL, so not an image: it stays text
    }
    if (!IMAGE_PATH.test(parsed.pathname) && !isAllowedHost(parsed.host)) continue;
    seen.add(url);
    refs.push({ url, alt: 'image', match: url, markdown: false });
  }
  return refs;
}

/** Images one reply downloads and attaches, at most; and their bytes in all. */
export const MAX_IMAGES_PER_REPLY = 4;
export const MAX_REPLY_IMAGE_BYTES = 20 * 1024 * 1024;

export class ImageRejected extends DownloadRefused {
  override readonly name = 'ImageRejected';
}

export { isPrivateAddress } from './downloads.js';

export interface ImageFetcherOptions {
  /** Host patterns: `*.aliyuncs.com` (any subdomain) or an exact `host` / `host:port`, which is "explicitly listed". */
  hosts: string[];
  maxBytes?: number;
  timeoutMs?: number;
  maxRedirects?: number;
  /** DNS lookup (tests point names at chosen addresses); defaults to the system resolver. */
  lookup?: LookupFunction;
  /**
   * Bytes of downloaded images this process holds at once, across every reply (default 64 MiB):
   * a download reserves its cap before it connects and gives back what it did not use; the rest
   * is given back by `release` once the reply is uploaded. Past the budget, downloads wait.
   */
  memoryBytes?: number;
}

/**
 * Downloads images the assistant produced, and nothing else: through the download guard (hosts
 * from IMAGE_HOSTS, no private addresses, redirects re-checked, one deadline), an image content
 * type, a size cap, and one memory budget for the whole process.
 *
 * @example await new ImageFetcher({ hosts: ['*.aliyuncs.com'] }).fetch('https://x.oss.aliyuncs.com/a.png')
 */
export class ImageFetcher {
  private readonly maxBytes: number;
  private readonly guard: DownloadGuard;
  /**
   * Slack's filesUploadV2 and discord.js both read a stream whole into a Buffer before they upload
   * it (@slack/web-api file-upload.js getFileDataAsStream; discord.js DataResolver.resolveFile), so
   * an image cannot be streamed from DashScope's bucket into the upload through them; the memory
   * is bounded here instead, for the whole process, not per reply.
   */
  private readonly memory: ByteBudget;
  private readonly held = new WeakMap<ReplyImage, number>();

  constructor(opts: ImageFetcherOptions) {
    this.maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
    this.guard = new DownloadGuard({
      hosts: opts.hosts,
      hostsVariable: 'IMAGE_HOSTS',
      timeoutMs: opts.timeoutMs,
      maxRedirects: opts.maxRedirects,
      lookup: opts.lookup,
      refuse: (why) => new ImageRejected(why),
    });
    this.memory = new ByteBudget(Math.max(opts.memoryBytes ?? 64 * 1024 * 1024, this.maxBytes));
  }

  /** Bytes of images held right now (downloading, or downloaded and not yet released). */
  get heldBytes(): number {
    return this.memory.used;
  }

  /** Gives back the memory of images once their reply is uploaded (or given up). */
  release(images: ReplyImage[]): void {
    for (const img of images) {
      const n = this.held.get(img);
      if (n === undefined) continue;
      this.held.delete(img);
      this.memory.give(n);
    }
  }

  /** Whether a host (with optional port) matches an IMAGE_HOSTS pattern. */
  isAllowedHost(host: string): boolean {
    return this.guard.isAllowedHost(host);
  }

  /** One image, under one deadline that also covers the wait for memory. */
  async fetch(url: string, alt = 'image', maxBytes = this.maxBytes): Promise<ReplyImage> {
    const cap = Math.min(maxBytes, this.maxBytes);
    this.guard.check(new URL(url)); // refuse before waiting for memory
    const deadline = AbortSignal.timeout(this.guard.timeoutMs);
    // the waiting counts against the download's deadline: past it, the image stays a link
    await this.memory.take(cap, deadline).catch(() => {
      throw new ImageRejected('image download timed out waiting for memory (too many images at once)');
    });
    let img: ReplyImage | undefined;
    try {
      const got = await this.guard.download(url, {
        maxBytes: cap,
        deadline,
        what: 'image',
        headers: { accept: 'image/*' },
        accept: (type) => (type.startsWith('image/') ? undefined : `content type ${type || 'missing'} is not an image`),
      });
      img = { bytes: got.bytes, contentType: got.contentType, filename: imageName(got.url, got.contentType), alt, url: got.url };
      this.held.set(img, img.bytes.length);
      return img;
    } finally {
      this.memory.give(cap - (img?.bytes.length ?? 0));
    }
  }
}

function imageName(url: string, type: string): string {
  const ext =
    type
      .split('/')[1]
      ?.replace('jpeg', 'jpg')
      .replace(/[^a-z0-9]/g, '') || 'png';
  const base = (new URL(url).pathname.split('/').pop() ?? '')
    .replace(/\.[^.]*$/, '')
    .replace(/[^\w.-]/g, '')
    .slice(0, 60);
  return `${base || 'image'}.${ext}`;
}

/**
 * A count of bytes that callers take and give back; a taker waits (in arrival order) until its
 * share fits, or until its signal fires.
 */
class ByteBudget {
  used = 0;
  private readonly waiting: Array<{ n: number; go: () => void }> = [];

  constructor(private readonly limit: number) {}

  take(n: number, signal: AbortSignal): Promise<void> {
    if (!this.waiting.length && this.used + n <= this.limit) {
      this.used += n;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const entry = {
        n,
        go: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(entry), 1);
        reject(signal.reason as Error);
        this.wake(); // a large waiter leaving may let smaller ones behind it go
      };
      if (signal.aborted) return reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  give(n: number): void {
    if (n <= 0) return;
    this.used -= n;
    this.wake();
  }

  private wake(): void {
    while (this.waiting.length && this.used + this.waiting[0].n <= this.limit) {
      const next = this.waiting.shift()!;
      this.used += next.n;
      next.go();
    }
  }
}

/**
 * Downloads every image in the text. Downloaded ones leave a short caption in the text; failed
 * ones stay as a link, so the reply is never lost.
 */
export async function attachImages(
  text: string,
  fetcher: ImageFetcher,
  onRejected?: (url: string, err: Error) => void,
  /** Images the backend made outside the text (Responses' text_to_image): attached too, once each. */
  extra: Array<{ url: string; alt: string }> = [],
): Promise<{ text: string; images: ReplyImage[] }> {
  const found = findImageRefs(text, (h) => fetcher.isAllowedHost(h));
  for (const e of extra) if (!found.some((r) => r.url === e.url)) found.push({ url: e.url, alt: e.alt, match: '', markdown: false });
  // One reply brings at most MAX_IMAGES_PER_REPLY images and MAX_REPLY_IMAGE_BYTES in all, two
  // downloads at a time (the rest stay links): held in memory until uploaded, so this bounds it.
  const refs = found.slice(0, MAX_IMAGES_PER_REPLY);
  const results: Array<{ r: ImageRef; img?: ReplyImage; err?: Error }> = [];
  let budget = MAX_REPLY_IMAGE_BYTES;
  for (let i = 0; i < refs.length; i += 2) {
    const pair = refs.slice(i, i + 2);
    const share = Math.floor(budget / pair.length);
    const got: Array<{ r: ImageRef; img?: ReplyImage; err?: Error }> = await Promise.all(
      pair.map((r) =>
        fetcher.fetch(r.url, r.alt, share).then(
          (img) => ({ r, img }),
          (err: Error) => ({ r, err }),
        ),
      ),
    );
    for (const g of got) if (g.img) budget -= g.img.bytes.length;
    results.push(...got);
    if (budget <= 0) break;
  }
  for (const r of found.slice(results.length)) results.push({ r, err: new ImageRejected(`more than ${MAX_IMAGES_PER_REPLY} images or ${MAX_REPLY_IMAGE_BYTES} bytes in one reply`) });
  const images: ReplyImage[] = [];
  let out = text;
  for (const res of results) {
    if (res.img) {
      images.push(res.img);
      if (res.r.match) out = out.replace(res.r.match, res.r.markdown ? `_(image: ${res.r.alt})_` : '_(image attached)_');
    } else {
      onRejected?.(res.r.url, res.err!);
      if (res.r.markdown) out = out.replace(res.r.match, `[${res.r.alt}](${res.r.url})`);
      else if (!res.r.match) out += `\n\n[${res.r.alt}](${res.r.url})`; // a made image that could not be attached stays a link
    }
  }
  return { text: out.trim(), images };
}
