import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LookupFunction } from 'node:net';
import { ImageFetcher, attachImages, findImageRefs, isPrivateAddress } from '../../src/engine/images.js';
import { FakeImageHost, PNG } from '../fakes/image-server.js';

let host: FakeImageHost;
beforeAll(async () => {
  host = await new FakeImageHost().start();
});
afterAll(() => host.stop());

/** DNS for tests: chosen names resolve to chosen addresses (the only thing faked is the resolver). */
function dns(map: Record<string, string>): LookupFunction {
  return (name: string, _opts: unknown, cb: (err: Error | null, addrs: Array<{ address: string; family: number }>) => void) => {
    const address = map[name];
    if (!address) return cb(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }), []);
    cb(null, [{ address, family: address.includes(':') ? 6 : 4 }]);
  };
}

describe('finding images in the reply', () => {
  it('finds markdown images and bare image URLs, not ordinary links', () => {
    const refs = findImageRefs('Here ![a cat](https://x.oss.aliyuncs.com/c.png?Expires=1) and https://e.com/d.jpg, see [docs](https://e.com/page) or https://e.com/page', (h) =>
      h.endsWith('aliyuncs.com'),
    );
    expect(refs.map((r) => [r.url, r.alt, r.markdown])).toEqual([
      ['https://x.oss.aliyuncs.com/c.png?Expires=1', 'a cat', true],
      ['https://e.com/d.jpg', 'image', false],
    ]);
  });

  it('treats a bare URL on an image host as an image even without an extension', () => {
    expect(findImageRefs('https://dashscope-result.oss-cn-beijing.aliyuncs.com/abc?sig=1', (h) => h.endsWith('.aliyuncs.com'))).toHaveLength(1);
  });
});

describe('the guarded download', () => {
  it('downloads an image from an explicitly listed host, with its bytes and type', async () => {
    const f = new ImageFetcher({ hosts: [host.host] });
    const img = await f.fetch(`${host.url}/gen/cat.png`, 'a cat');
    expect(Buffer.from(img.bytes).equals(PNG)).toBe(true);
    expect(img).toMatchObject({ contentType: 'image/png', filename: 'cat.png', alt: 'a cat' });
  });

  it.each([
    ['loopback not listed', 'http://127.0.0.1:9/cat.png', ['*.aliyuncs.com']],
    ['cloud metadata address', 'http://169.254.169.254/latest/meta-data', ['169.254.169.254.nip.io']],
    ['IPv6 loopback', 'http://[::1]/cat.png', ['*.aliyuncs.com']],
    ['decimal IP', 'http://2130706433/cat.png', ['*.aliyuncs.com']],
    ['hex IP', 'http://0x7f000001/cat.png', ['*.aliyuncs.com']],
    ['host not in IMAGE_HOSTS', 'https://evil.example.com/cat.png', ['*.aliyuncs.com']],
    ['http on a wildcard host', 'http://bucket.aliyuncs.com/cat.png', ['*.aliyuncs.com']],
    ['credentials in the URL', 'https://u:p@bucket.aliyuncs.com/cat.png', ['*.aliyuncs.com']],
  ])('refuses %s without connecting', async (_label, url, hosts) => {
    const f = new ImageFetcher({ hosts, lookup: dns({}) });
    await expect(f.fetch(url)).rejects.toMatchObject({ name: 'ImageRejected' });
  });

  it('refuses a name that resolves to a private address', async () => {
    const f = new ImageFetcher({ hosts: ['*.aliyuncs.com'], lookup: dns({ 'bucket.aliyuncs.com': '10.0.0.5' }) });
    await expect(f.fetch('https://bucket.aliyuncs.com/cat.png')).rejects.toThrow(/private/);
    const g = new ImageFetcher({ hosts: ['*.aliyuncs.com'], lookup: dns({ 'bucket.aliyuncs.com': '::ffff:127.0.0.1' }) });
    await expect(g.fetch('https://bucket.aliyuncs.com/cat.png')).rejects.toThrow(/private/);
  });

  it('re-checks redirects: to the metadata address, and to a name resolving to loopback', async () => {
    const n = host.log.calls.length;
    const f = new ImageFetcher({ hosts: [host.host, '*.aliyuncs.com'], lookup: dns({ 'sneaky.aliyuncs.com': '127.0.0.1' }) });
    host.redirectTarget = 'http://169.254.169.254/latest/meta-data';
    await expect(f.fetch(`${host.url}/redirect.png`)).rejects.toMatchObject({ name: 'ImageRejected' });
    host.redirectTarget = 'https://sneaky.aliyuncs.com/cat.png';
    await expect(f.fetch(`${host.url}/redirect.png`)).rejects.toThrow(/private/);
    // a pattern never allows another port, and an exact entry only the one it names
    host.redirectTarget = `https://sneaky.aliyuncs.com:${host.host.split(':')[1]}/cat.png`;
    await expect(f.fetch(`${host.url}/redirect.png`)).rejects.toThrow(/not in IMAGE_HOSTS/);
    expect(host.log.calls.length - n).toBe(3); // only the redirecting requests reached a server
  });

  it('allows DashScope result buckets by default, not every OSS bucket; an exact entry allows its own port only', () => {
    const f = new ImageFetcher({ hosts: ['dashscope-result*.aliyuncs.com', 'img.example.com'] });
    for (const ok of ['dashscope-result-bj.oss-cn-beijing.aliyuncs.com', 'dashscope-result-sgp.oss-ap-southeast-1.aliyuncs.com', 'dashscope-result.oss-cn-shanghai.aliyuncs.com', 'img.example.com'])
      expect(f.isAllowedHost(ok)).toBe(true);
    for (const no of ['attacker-bucket.oss-cn-beijing.aliyuncs.com', 'dashscope-result.evil.com', 'img.example.com:8443', 'dashscope-result-bj.oss-cn-beijing.aliyuncs.com:8080'])
      expect(f.isAllowedHost(no)).toBe(false);
  });

  it('one deadline for the whole download: a server trickling its headers cannot hold the turn', async () => {
    const { createServer } = await import('node:net');
    const trickle = createServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\n');
      const t = setInterval(() => socket.write('X-Slow: 1\r\n'), 50); // never ends the headers, never idle
      socket.on('close', () => clearInterval(t));
      socket.on('error', () => clearInterval(t));
    });
    await new Promise<void>((r) => trickle.listen(0, '127.0.0.1', r));
    const port = (trickle.address() as import('node:net').AddressInfo).port;
    try {
      const f = new ImageFetcher({ hosts: [`127.0.0.1:${port}`], timeoutMs: 400 });
      // bytes arrive every 50 ms, so an idle timeout of 400 ms would never fire: only the deadline ends it
      await expect(f.fetch(`http://127.0.0.1:${port}/cat.png`)).rejects.toThrow(/timed out/);
    } finally {
      trickle.close();
    }
  });

  it('refuses too large and non-image responses', async () => {
    const f = new ImageFetcher({ hosts: [host.host], maxBytes: 1024 * 1024 });
    await expect(f.fetch(`${host.url}/big.png`)).rejects.toThrow(/larger/);
    await expect(f.fetch(`${host.url}/page.png`)).rejects.toThrow(/not an image/);
  });

  it('classifies addresses', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '::1', 'fe80::1', 'fd00::1', '0.0.0.0', '100.64.0.1']) expect(isPrivateAddress(a)).toBe(true);
    for (const a of ['8.8.8.8', '47.88.1.1', '2606:4700::1111']) expect(isPrivateAddress(a)).toBe(false);
  });
});

describe('attaching images to a reply', () => {
  it('attaches at most four images to one reply; the rest stay links', async () => {
    const f = new ImageFetcher({ hosts: [host.host] });
    const text = Array.from({ length: 10 }, (_, i) => `![pic ${i}](${host.url}/gen/p${i}/cat.png)`).join('\n');
    const n = host.log.calls.length;
    const reply = await attachImages(text, f);
    expect(reply.images).toHaveLength(4);
    expect(host.log.calls.length - n).toBe(4); // the others are never downloaded
    expect(reply.text.match(/\[pic \d\]\(http/g)).toHaveLength(6);
  });

  it('replaces downloaded images with a caption and keeps failed ones as links', async () => {
    const f = new ImageFetcher({ hosts: [host.host] });
    const out = await attachImages(`Here: ![a cat](${host.url}/cat.png) and ![a page](${host.url}/page.png)`, f);
    expect(out.images).toHaveLength(1);
    expect(out.text).toBe(`Here: _(image: a cat)_ and [a page](${host.url}/page.png)`);
  });
});

describe('memory for images, across every reply of the process', () => {
  it('holds at most the budget: downloads past it wait, and go on once a reply is uploaded and releases its images', async () => {
    const { createServer } = await import('node:http');
    const MiB = 1024 * 1024;
    const image = Buffer.alloc(600 * 1024, 7);
    const held: Array<() => void> = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const arrived: Array<() => void> = [];
    const server = createServer((_req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      held.push(() => {
        inFlight--;
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': image.length }).end(image);
      });
      arrived.shift()?.();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const hostPort = `127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
    const nextRequest = () => new Promise<void>((r) => arrived.push(r));
    const answer = () => held.shift()!();
    try {
      // 1 MiB reserved per download before it connects, 2.5 MiB in all
      const f = new ImageFetcher({ hosts: [hostPort], maxBytes: MiB, memoryBytes: 2.5 * MiB });
      const firstTwo = [nextRequest(), nextRequest()];
      const downloads = Array.from({ length: 5 }, (_, i) => f.fetch(`http://${hostPort}/gen/${i}.png`));
      await Promise.all(firstTwo);
      expect(held).toHaveLength(2); // the third waits for memory, unconnected
      expect(f.heldBytes).toBe(2 * MiB);
      // both arrive and give back what they did not use: the third fits (2 × 600 KiB + 1 MiB), the fourth not
      const third = nextRequest();
      answer();
      answer();
      const done = await Promise.all(downloads.slice(0, 2));
      expect(done.map((d) => Buffer.from(d.bytes).equals(image))).toEqual([true, true]);
      await third;
      expect(f.heldBytes).toBe(2 * image.length + MiB);
      answer();
      const got3 = await downloads[2];
      // three images held until their replies are uploaded; the fourth's megabyte does not fit
      expect(f.heldBytes).toBe(3 * image.length);
      const fourth = nextRequest();
      f.release(done); // that reply is uploaded
      await fourth;
      expect(f.heldBytes).toBe(image.length + MiB);
      const fifth = nextRequest();
      answer();
      const got4 = await downloads[3];
      await fifth;
      answer();
      const got5 = await downloads[4];
      f.release([got3, got4, got5]);
      expect(f.heldBytes).toBe(0);
      expect(maxInFlight).toBe(2);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a download that cannot get memory before its deadline stays a link, and frees nothing it did not take', async () => {
    const f = new ImageFetcher({ hosts: [host.host], maxBytes: 1024 * 1024, memoryBytes: 1024 * 1024, timeoutMs: 200 });
    const kept = await f.fetch(`${host.url}/gen/cat.png`);
    // the cat is held (its reply not uploaded): a download reserving the whole megabyte must wait
    const reply = await attachImages(`![dog](${host.url}/gen/dog/cat.png)`, f);
    expect(reply.images).toHaveLength(0);
    expect(reply.text).toBe(`[dog](${host.url}/gen/dog/cat.png)`);
    expect(f.heldBytes).toBe(kept.bytes.length);
    f.release([kept]);
    expect(f.heldBytes).toBe(0);
  });
});
