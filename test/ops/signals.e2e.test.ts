import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { SIGNING_SECRET, fixture, postSlack, fakeEnv } from '../app-harness.js';
import { REDIS_URL, eventually, freePort, tempDir, uniquePrefix } from '../helpers.js';

let ds: FakeDashScope;
let slack: FakeSlack;
const root = join(import.meta.dirname, '..', '..');

beforeAll(async () => {
  [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
});
afterAll(async () => {
  await Promise.all([ds.stop(), slack.stop()]);
});

describe.each(['SIGTERM', 'SIGINT'] as const)('npm start, then %s with a run in flight', (signal) => {
  it('stops taking events, lets the turn finish, posts the reply and exits 0', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src', 'main.ts')], {
      cwd: tempDir('proc'),
      env: {
        PATH: process.env.PATH,
        PORT: String(port),
        HOST: '127.0.0.1',
        ...fakeEnv({ ds, slack }),
        REDIS_URL,
        REDIS_PREFIX: uniquePrefix('proc'),
        LOG_LEVEL: 'info',
        TOOLS_DIR: join(tempDir('t'), 'none'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const base = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 15_000, 'child ready').catch((e) => {
      throw new Error(`${(e as Error).message}\n${out}`);
    });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    ds.model = () => ({ text: `answered despite ${signal}`, until: gate });
    const ts = signal === 'SIGTERM' ? '1767600000.000001' : '1767600000.000002';
    const ev = { ...fixture('slack.json').mention, event: { ...fixture('slack.json').mention.event, ts } };
    const runsBefore = ds.runCreates().length;
    await postSlack(base, ev);
    await ds.log.waitFor(() => ds.runCreates().length > runsBefore);
    child.kill(signal);
    await eventually(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status !== 200, 10_000, 'not ready');
    release();
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    const reply = slack
      .calls('chat.startStream')
      .filter((c) => c.args.thread_ts === ts)
      .map((c) => c.args.markdown_text)
      .join('');
    expect(reply).toBe(`answered despite ${signal}`);
    // one JSON line per turn, with the conversation, run and request ids and durations; no secrets
    const turn = out
      .split('\n')
      .filter((l) => l.includes('"msg":"turn"'))
      .map((l) => JSON.parse(l))[0];
    expect(turn).toMatchObject({ conversation: `slack:T00FAKE00AA:C00FAKECHAN1:${ts}`, status: 'completed' });
    expect(turn.runId).toMatch(/^run_/);
    expect(turn.requestId).toBeTruthy();
    expect(typeof turn.ms).toBe('number');
    expect(out).not.toContain(slack.botToken);
    expect(out).not.toContain(ds.apiKey);
    expect(out).not.toContain(SIGNING_SECRET);
  });
});
