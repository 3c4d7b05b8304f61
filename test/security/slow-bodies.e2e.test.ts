import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { boot, fakeEnv, fixture, postSlack } from '../app-harness.js';
import { eventually } from '../helpers.js';

/** Issue 19, finding 6: slow or unauthenticated bodies cannot pile up on /slack/events. */
let ds: FakeDashScope;
let slack: FakeSlack;
let app: Threadline;
const sockets: Socket[] = [];

beforeAll(async () => {
  [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
  app = await boot(fakeEnv({ ds, slack }), { testing: { slackRateLimits: 'unlimited', webApiRetries: 0, editIntervalMs: 20, slackBodyDeadlineMs: 300, slackMaxUnverifiedReads: 2 } });
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await app?.stop(1_000);
  await Promise.all([ds.stop(), slack.stop()]);
});

/** Sends the request's head (and `body` if given) over a raw socket and resolves with the status line of the answer. */
function rawRequest(headers: Record<string, string>, body = ''): { socket: Socket; status: Promise<string> } {
  const port = new URL(app.url).port;
  const socket = connect(Number(port), '127.0.0.1');
  sockets.push(socket);
  const head = [`POST /slack/events HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Content-Type: application/json', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
  socket.write(head + body);
  const status = new Promise<string>((resolve) => {
    let got = '';
    socket.on('data', (d) => {
      got += String(d);
      if (got.includes('\r\n')) resolve(got.split('\r\n')[0]);
    });
    socket.on('close', () => resolve(got.split('\r\n')[0] || 'closed'));
  });
  return { socket, status };
}
const fresh = () => ({ 'X-Slack-Request-Timestamp': String(Math.floor(Date.now() / 1000)), 'X-Slack-Signature': 'v0=' + '0'.repeat(64) });

describe('slow and unauthenticated bodies', () => {
  it('a missing or stale timestamp is refused before any of the body is read', async () => {
    // the body is announced but never sent: only an early refusal answers
    expect(await rawRequest({ 'Content-Length': '500' }).status).toMatch(/ 401 /);
    expect(await rawRequest({ 'Content-Length': '500', 'X-Slack-Request-Timestamp': String(Math.floor(Date.now() / 1000) - 3_600), 'X-Slack-Signature': 'v0=abc' }).status).toMatch(/ 401 /);
  });

  it('a body that trickles in gets 408 at the deadline; past the cap of reads in progress, 503; a real event still gets through', async () => {
    const a = rawRequest({ ...fresh(), 'Content-Length': '1000' }, '{"a":');
    const b = rawRequest({ ...fresh(), 'Content-Length': '1000' }, '{"b":');
    const tick = setInterval(() => {
      a.socket.write(' ');
      b.socket.write(' ');
    }, 50);
    try {
      // two reads in progress: the third is refused at once
      await eventually(() => app.slack!.receiver!.unverifiedReads === 2, 5_000, 'two reads in progress');
      expect(await rawRequest({ ...fresh(), 'Content-Length': '10' }).status).toMatch(/ 503 /);
      expect(await a.status).toMatch(/ 408 /);
      expect(await b.status).toMatch(/ 408 /);
    } finally {
      clearInterval(tick);
    }
    const res = await postSlack(app.url, fixture('slack.json').mention);
    expect(res.status).toBe(200);
    await app.slack!.idle();
    expect(slack.repliesIn(fixture('slack.json').mention.event.channel, fixture('slack.json').mention.event.ts)).toHaveLength(1);
  });
});
