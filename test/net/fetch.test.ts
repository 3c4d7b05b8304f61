import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { WebClient, WebClientEvent } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFetch } from '../../src/net/fetch.js';
import { closeServer, listenLocal, readBody } from '../fakes/call-log.js';

/** What the server saw, and what it answers next. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}
let seen: Seen[] = [];
let answer: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
const server = createServer((req, res) => {
  void readBody(req).then((body) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
    answer(req, res, body);
  });
});
let base: string;

beforeAll(async () => {
  base = await listenLocal(server);
});
afterAll(() => closeServer(server));

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(value));
}

describe('nodeFetch', () => {
  it('sends method, headers and a form body, and reads status, headers and body as fetch does', async () => {
    seen = [];
    answer = (_req, res) => json(res, 201, { ok: true, n: 1 }, { 'x-oauth-scopes': 'chat:write', 'set-cookie': 'a=1' });
    const res = await nodeFetch(`${base}/api/chat.postMessage`, {
      method: 'POST',
      headers: { Authorization: 'Bearer xoxb-1', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'channel=C1&text=h%C3%A9llo',
    });
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/api/chat.postMessage' });
    expect(seen[0].headers).toMatchObject({ authorization: 'Bearer xoxb-1', 'content-type': 'application/x-www-form-urlencoded', 'content-length': '26' });
    expect(seen[0].body.toString()).toBe('channel=C1&text=h%C3%A9llo');
    expect([res.status, res.ok, res.url]).toEqual([201, true, `${base}/api/chat.postMessage`]);
    expect(res.headers.get('X-OAuth-Scopes')).toBe('chat:write');
    expect(Object.fromEntries(res.headers.entries())).toMatchObject({ 'x-oauth-scopes': 'chat:write' });
    expect(await res.json()).toEqual({ ok: true, n: 1 });
  });

  it('encodes FormData as multipart with its boundary', async () => {
    seen = [];
    answer = (_req, res) => json(res, 200, { ok: true });
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array([0, 1, 2, 255])]), 'x.bin');
    await nodeFetch(`${base}/upload`, { method: 'POST', body: form });
    const type = String(seen[0].headers['content-type']);
    expect(type).toMatch(/^multipart\/form-data; boundary=/);
    const parsed = await new Response(new Uint8Array(seen[0].body), { headers: { 'content-type': type } }).formData();
    expect([...new Uint8Array(await (parsed.get('file') as Blob).arrayBuffer())]).toEqual([0, 1, 2, 255]);
  });

  it('rejects as fetch does: the signal reason when aborted, TypeError when nothing answers', async () => {
    answer = () => {
      // holds the request until the client gives up
    };
    const ac = new AbortController();
    const pending = nodeFetch(`${base}/slow`, { method: 'POST', body: 'x', signal: ac.signal });
    await expect.poll(() => seen.some((s) => s.url === '/slow')).toBe(true);
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await expect(nodeFetch(`${base}/slow`, { signal: AbortSignal.timeout(20) })).rejects.toMatchObject({ name: 'TimeoutError' });
    await expect(nodeFetch('http://127.0.0.1:9/refused')).rejects.toThrow(TypeError);
  });

  it('refuses a redirect when asked to, hands one back when manual, and otherwise follows it without sending the request twice', async () => {
    answer = (req, res) => {
      if (req.url === '/moved' || req.url === '/kept') {
        res.writeHead(req.url === '/moved' ? 302 : 307, { location: '/here', 'content-type': 'text/plain' });
        res.end('see /here');
      } else json(res, 200, { at: req.url, method: req.method });
    };
    await expect(nodeFetch(`${base}/moved`, { method: 'POST', body: 'a', redirect: 'error' })).rejects.toThrow(TypeError);
    const manual = await nodeFetch(`${base}/moved`, { redirect: 'manual' });
    expect([manual.status, manual.headers.get('location'), await manual.text()]).toEqual([302, '/here', 'see /here']);
    seen = [];
    expect(await (await nodeFetch(`${base}/moved`, { method: 'POST', body: 'a' })).json()).toEqual({ at: '/here', method: 'GET' });
    expect(await (await nodeFetch(`${base}/kept`, { method: 'POST', body: 'b' })).json()).toEqual({ at: '/here', method: 'POST' });
    expect(seen.map((x) => `${x.method} ${x.url} ${x.body.toString()}`)).toEqual(['POST /moved a', 'GET /here ', 'POST /kept b', 'POST /here b']);
  });

  it('a redirect to another origin carries no Authorization (a token stays with its origin)', async () => {
    const { createServer } = await import('node:http');
    const got: Array<string | undefined> = [];
    const other = createServer((req, res) => {
      got.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const port = (other.address() as import('node:net').AddressInfo).port;
    try {
      answer = (_req, res) => {
        res.writeHead(307, { location: `http://127.0.0.1:${port}/elsewhere` });
        res.end();
      };
      seen = [];
      const res = await nodeFetch(`${base}/to-other`, { method: 'POST', body: 'x', headers: { authorization: 'Bearer xoxb-secret' } });
      expect(res.status).toBe(200);
      expect(seen[0].headers.authorization).toBe('Bearer xoxb-secret');
      expect(got).toEqual([undefined]);
    } finally {
      other.close();
    }
  });

  it("carries Slack's WebClient: a 429 with Retry-After is waited out and the call succeeds", async () => {
    seen = [];
    let calls = 0;
    answer = (_req, res) => {
      calls++;
      if (calls === 1) json(res, 429, { ok: false, error: 'ratelimited' }, { 'retry-after': '0' });
      else json(res, 200, { ok: true, channel: 'C1', ts: '1.2' });
    };
    const web = new WebClient('xoxb-test', { slackApiUrl: `${base}/api/`, fetch: nodeFetch, retryConfig: { retries: 1, minTimeout: 1, maxTimeout: 1 } });
    const limited: number[] = [];
    web.on(WebClientEvent.RATE_LIMITED, (sec: number) => limited.push(sec));
    const out = await web.chat.postMessage({ channel: 'C1', text: 'hi', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*b*' } }] });
    expect(out).toMatchObject({ ok: true, ts: '1.2' });
    expect(limited).toEqual([0]);
    expect(seen).toHaveLength(2);
    const form = new URLSearchParams(seen[1].body.toString());
    expect(form.get('text')).toBe('hi');
    expect(JSON.parse(form.get('blocks')!)).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: '*b*' } }]);
    expect(seen[1].headers.authorization).toBe('Bearer xoxb-test');
  });
});
