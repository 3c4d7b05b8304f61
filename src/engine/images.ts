import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
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

export class ImageRejected extends Error {
  override readonly name = 'ImageRejected';
}

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

const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
  ['2001:db8::', 32],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv6');
}

/** True for loopback, private, link-local (169.254.x, the cloud metadata address), CGNAT, multicast and reserved ranges. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return PRIVATE.check(address, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return PRIVATE.check(mapped[1], 'ipv4');
    return PRIVATE.check(address, 'ipv6');
  }
  return true;
}

/**
 * Downloads images the assistant produced, and nothing else: the host must match IMAGE_HOSTS;
 * https only unless the host is explicitly listed; no private, loopback or link-local address
 * (checked on the address actually connected to, so DNS cannot rebind around it) unless
 * explicitly listed; every redirect re-checked; a size cap; an image content type; a timeout.
 *
 * @example await new ImageFetcher({ hosts: ['*.aliyuncs.com'] }).fetch('https://x.oss.aliyuncs.com/a.png')
 */
export class ImageFetcher {
  private readonly maxBytes: number;
  private readonly timeoutMs: number;
  private readonly maxRedirects: number;
  private readonly lookup: LookupFunction;
  /**
   * Slack's filesUploadV2 and discord.js both read a stream whole into a Buffer before they upload
   * it (@slack/web-api file-upload.js getFileDataAsStream; discord.js DataResolver.resolveFile), so
   * an image cannot be streamed from DashScope's bucket into the upload through them; the memory
   * is bounded here instead, for the whole process, not per reply.
   */
  private readonly memory: ByteBudget;
  private readonly held = new WeakMap<ReplyImage, number>();

  constructor(private readonly opts: ImageFetcherOptions) {
    this.maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.maxRedirects = opts.maxRedirects ?? 3;
    this.lookup = opts.lookup ?? dnsLookup;
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
    return this.match(host) !== 'none';
  }

  private match(host: string): 'explicit' | 'wildcard' | 'none' {
    const h = host.toLowerCase();
    const bare = h.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    const hasPort = h !== bare && /:\d+$/.test(h);
    for (const p of this.opts.hosts.map((x) => x.toLowerCase())) {
      // an entry with a port allows that port; one without, only the scheme's own (not every port)
      if (p === h || (p === bare && !hasPort)) return 'explicit';
    }
    for (const p of this.opts.hosts.map((x) => x.toLowerCase())) {
      if (!p.includes('*') || isIP(bare) || hasPort) continue;
      // `*.x.com`: any subdomain; `dashscope-result*.aliyuncs.com`: a name starting so, under that domain
      const re = new RegExp(
        `^${p
          .split('*')
          .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('[a-z0-9.-]*')}$`,
      );
      if (re.test(bare) && (!p.startsWith('*.') || bare.length > p.length - 1)) return 'wildcard';
    }
    return 'none';
  }

  /**
   * One download under one deadline, headers and body and redirects together: a timeout that only
   * counts idle time lets a server trickle bytes forever while the turn (and its lock) waits.
   */
  async fetch(url: string, alt = 'image', maxBytes = this.maxBytes): Promise<ReplyImage> {
    const cap = Math.min(maxBytes, this.maxBytes);
    this.check(new URL(url)); // refuse before waiting for memory
    const deadline = AbortSignal.timeout(this.timeoutMs);
    // the waiting counts against the download's deadline: past it, the image stays a link
    await this.memory.take(cap, deadline).catch(() => {
      throw new ImageRejected('image download timed out waiting for memory (too many images at once)');
    });
    let img: ReplyImage | undefined;
    try {
      let current = url;
      for (let hop = 0; hop <= this.maxRedirects && !img; hop++) {
        const res = await this.get(current, deadline);
        if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && res.headers.location) {
          res.resume();
          current = new URL(res.headers.location, current).href;
          continue;
        }
        img = await this.read(res, current, alt, deadline, cap);
      }
      if (!img) throw new ImageRejected('too many redirects');
      this.held.set(img, img.bytes.length);
      return img;
    } finally {
      this.memory.give(cap - (img?.bytes.length ?? 0));
    }
  }

  private check(url: URL): { explicit: boolean } {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ImageRejected(`scheme ${url.protocol} not allowed`);
    if (url.username || url.password) throw new ImageRejected('credentials in URL');
    const m = this.match(url.host);
    if (m === 'none') throw new ImageRejected(`host ${url.hostname} is not in IMAGE_HOSTS`);
    const explicit = m === 'explicit';
    if (url.protocol === 'http:' && !explicit) throw new ImageRejected('http is only allowed for explicitly listed hosts');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && isPrivateAddress(host) && !explicit) throw new ImageRejected(`address ${host} is private`);
    return { explicit };
  }

  private get(href: string, deadline: AbortSignal): Promise<IncomingMessage> {
    const url = new URL(href);
    const { explicit } = this.check(url);
    // Check the address we really connect to: resolving here and connecting elsewhere would let DNS rebind.
    const guardedLookup: LookupFunction = (hostname, options, callback) => {
      this.lookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) return callback(err, '', 0);
        const list = Array.isArray(addresses) ? addresses : [{ address: addresses, family: 4 }];
        const bad = list.find((a) => isPrivateAddress(a.address));
        if (bad && !explicit) return callback(new ImageRejected(`${hostname} resolves to a private address`), '', 0);
        if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
        callback(null, list[0].address, list[0].family);
      });
    };
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      if (deadline.aborted) return reject(new ImageRejected('image download timed out'));
      const req = request(url, { method: 'GET', lookup: guardedLookup, timeout: this.timeoutMs, headers: { 'user-agent': 'threadline-image-fetch', accept: 'image/*' } }, resolve);
      const onDeadline = () => req.destroy(new ImageRejected('image download timed out'));
      deadline.addEventListener('abort', onDeadline, { once: true });
      req.on('close', () => deadline.removeEventListener('abort', onDeadline));
      req.on('timeout', () => req.destroy(new ImageRejected('image download timed out')));
      req.on('error', (err) => reject(err instanceof ImageRejected ? err : new ImageRejected(`download failed: ${err.message}`)));
      req.end();
    });
  }

  private async read(res: IncomingMessage, url: string, alt: string, deadline: AbortSignal, maxBytes: number): Promise<ReplyImage> {
    const fail = (why: string) => {
      res.destroy();
      return new ImageRejected(why);
    };
    if (res.statusCode !== 200) throw fail(`HTTP ${res.statusCode}`);
    const type = String(res.headers['content-type'] ?? '')
      .split(';')[0]
      .trim()
      .toLowerCase();
    if (!type.startsWith('image/')) throw fail(`content type ${type || 'missing'} is not an image`);
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) throw fail(`image larger than ${maxBytes} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    const onDeadline = () => res.destroy(new ImageRejected('image download timed out'));
    if (deadline.aborted) onDeadline();
    deadline.addEventListener('abort', onDeadline, { once: true });
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) throw fail(`image larger than ${maxBytes} bytes`);
        chunks.push(chunk);
      }
    } catch (err) {
      throw err instanceof ImageRejected ? err : new ImageRejected(`download failed: ${(err as Error).message}`);
    } finally {
      deadline.removeEventListener('abort', onDeadline);
    }
    const ext =
      type
        .split('/')[1]
        ?.replace('jpeg', 'jpg')
        .replace(/[^a-z0-9]/g, '') || 'png';
    const base = (new URL(url).pathname.split('/').pop() ?? '')
      .replace(/\.[^.]*$/, '')
      .replace(/[^\w.-]/g, '')
      .slice(0, 60);
    return { bytes: new Uint8Array(Buffer.concat(chunks)), contentType: type, filename: `${base || 'image'}.${ext}`, alt, url };
  }
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
