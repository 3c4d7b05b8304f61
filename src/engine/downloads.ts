import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** A download refused or failed; the message says why in words fit for a log line and a short notice. */
export class DownloadRefused extends Error {
  override readonly name: string = 'DownloadRefused';
}

export interface GuardOptions {
  /** Host patterns: `*.x.com` (any subdomain), `prefix*.x.com`, or an exact `host` / `host:port`, which is "explicitly listed". */
  hosts: string[];
  /** The variable that lists them, named in refusals (IMAGE_HOSTS, SLACK_FILES_HOSTS, …). */
  hostsVariable: string;
  timeoutMs?: number;
  maxRedirects?: number;
  /** DNS lookup (tests point names at chosen addresses); defaults to the system resolver. */
  lookup?: LookupFunction;
  /** The error type this guard throws (images keep theirs). */
  refuse?: (why: string) => DownloadRefused;
}

export interface Downloaded {
  bytes: Uint8Array;
  /** The media type the server sent, without parameters, in lower case. */
  contentType: string;
  /** Where the bytes came from in the end (after redirects). */
  url: string;
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
 * Downloads from a list of hosts and nowhere else: https only unless the host is explicitly
 * listed; no private, loopback or link-local address (checked on the address actually connected
 * to, so DNS cannot rebind around it) unless explicitly listed; every redirect re-checked, so
 * credentials given for one host never reach another; a size cap on what is declared and on what
 * arrives; one deadline for the whole download. Images from DashScope and files people share go
 * through it.
 *
 * @example await new DownloadGuard({ hosts: ['files.slack.com'], hostsVariable: 'SLACK_FILES_HOSTS' }).download(url, { maxBytes: 1e6, accept: () => undefined })
 */
export class DownloadGuard {
  readonly timeoutMs: number;
  private readonly maxRedirects: number;
  private readonly lookup: LookupFunction;
  private readonly refuse: (why: string) => DownloadRefused;

  constructor(private readonly opts: GuardOptions) {
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.maxRedirects = opts.maxRedirects ?? 3;
    this.lookup = opts.lookup ?? dnsLookup;
    this.refuse = opts.refuse ?? ((why) => new DownloadRefused(why));
  }

  /** Whether a host (with optional port) matches a pattern of the list. */
  isAllowedHost(host: string): boolean {
    return this.match(host) !== 'none';
  }

  /** Refuses a URL this guard would never fetch, before anything is sent (or waited for). */
  check(url: URL): { explicit: boolean } {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw this.refuse(`scheme ${url.protocol} not allowed`);
    if (url.username || url.password) throw this.refuse('credentials in URL');
    const m = this.match(url.host);
    if (m === 'none') throw this.refuse(`host ${url.hostname} is not in ${this.opts.hostsVariable}`);
    const explicit = m === 'explicit';
    if (url.protocol === 'http:' && !explicit) throw this.refuse('http is only allowed for explicitly listed hosts');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && isPrivateAddress(host) && !explicit) throw this.refuse(`address ${host} is private`);
    return { explicit };
  }

  /**
   * One download under one deadline (headers, body and redirects together: a timeout that only
   * counts idle time lets a server trickle bytes forever while the turn and its lock wait).
   * `accept` returns why a content type is refused, or undefined to take it. `headers` (a token)
   * go to listed hosts only: a redirect elsewhere is refused before it connects.
   */
  async download(
    url: string,
    o: { maxBytes: number; accept: (contentType: string) => string | undefined; headers?: Record<string, string>; deadline?: AbortSignal; what?: string },
  ): Promise<Downloaded> {
    const deadline = o.deadline ?? AbortSignal.timeout(this.timeoutMs);
    const what = o.what ?? 'file';
    let current = url;
    for (let hop = 0; hop <= this.maxRedirects; hop++) {
      const res = await this.get(current, deadline, o.headers, what);
      if (res.statusCode && res.statusCode >= 300 && res.statusCode < 400 && res.headers.location) {
        res.resume();
        current = new URL(res.headers.location, current).href;
        continue;
      }
      return { ...(await this.read(res, deadline, o.maxBytes, o.accept, what)), url: current };
    }
    throw this.refuse('too many redirects');
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

  private get(href: string, deadline: AbortSignal, headers: Record<string, string> | undefined, what: string): Promise<IncomingMessage> {
    const url = new URL(href);
    const { explicit } = this.check(url);
    // Check the address we really connect to: resolving here and connecting elsewhere would let DNS rebind.
    const guardedLookup: LookupFunction = (hostname, options, callback) => {
      this.lookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) return callback(err, '', 0);
        const list = Array.isArray(addresses) ? addresses : [{ address: addresses, family: 4 }];
        const bad = list.find((a) => isPrivateAddress(a.address));
        if (bad && !explicit) return callback(this.refuse(`${hostname} resolves to a private address`), '', 0);
        if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
        callback(null, list[0].address, list[0].family);
      });
    };
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const timedOut = () => this.refuse(`${what} download timed out`);
    return new Promise((resolve, reject) => {
      if (deadline.aborted) return reject(timedOut());
      const req = request(url, { method: 'GET', lookup: guardedLookup, timeout: this.timeoutMs, headers: { 'user-agent': 'threadline-download', ...headers } }, resolve);
      const onDeadline = () => req.destroy(timedOut());
      deadline.addEventListener('abort', onDeadline, { once: true });
      req.on('close', () => deadline.removeEventListener('abort', onDeadline));
      req.on('timeout', () => req.destroy(timedOut()));
      req.on('error', (err) => reject(err instanceof DownloadRefused ? err : this.refuse(`download failed: ${err.message}`)));
      req.end();
    });
  }

  private async read(res: IncomingMessage, deadline: AbortSignal, maxBytes: number, accept: (type: string) => string | undefined, what: string): Promise<Omit<Downloaded, 'url'>> {
    const fail = (why: string) => {
      res.destroy();
      return this.refuse(why);
    };
    if (res.statusCode !== 200) throw fail(`HTTP ${res.statusCode}`);
    const type = String(res.headers['content-type'] ?? '')
      .split(';')[0]
      .trim()
      .toLowerCase();
    const refused = accept(type);
    if (refused) throw fail(refused);
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) throw fail(`${what} larger than ${maxBytes} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    const onDeadline = () => res.destroy(this.refuse(`${what} download timed out`));
    if (deadline.aborted) onDeadline();
    deadline.addEventListener('abort', onDeadline, { once: true });
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        size += chunk.length;
        // more than declared, or than allowed: cut off here, never read to the end
        if (size > maxBytes || (Number.isFinite(declared) && size > declared)) throw fail(`${what} larger than ${Number.isFinite(declared) ? Math.min(declared, maxBytes) : maxBytes} bytes`);
        chunks.push(chunk);
      }
    } catch (err) {
      throw err instanceof DownloadRefused ? err : this.refuse(`download failed: ${(err as Error).message}`);
    } finally {
      deadline.removeEventListener('abort', onDeadline);
    }
    return { bytes: new Uint8Array(Buffer.concat(chunks)), contentType: type };
  }
}
