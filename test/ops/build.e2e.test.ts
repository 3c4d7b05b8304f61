import { execFile } from 'node:child_process';
import { cpSync, existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { fakeEnv, fixture, postSlack } from '../app-harness.js';
import { startChild, type ChildThreadline } from '../child-process.js';
import { tempDir } from '../helpers.js';

/** `npm run build` compiles to JavaScript that runs on plain node, as the Docker image runs it (no tsx). */
const root = join(import.meta.dirname, '../..');
let out: string;
let ds: FakeDashScope;
let slack: FakeSlack;
let app: ChildThreadline | undefined;

beforeAll(async () => {
  // the build the Dockerfile runs, into a folder of this test's own (package.json beside it, as in the image)
  const dir = tempDir('build');
  out = join(dir, 'dist');
  await promisify(execFile)(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', out]);
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
}, 120_000);
afterAll(async () => {
  await app?.stop();
  await Promise.all([ds?.stop(), slack?.stop()]);
});

describe('the compiled build', () => {
  it('emits dist/src/main.js with no TypeScript left, starts on plain node and answers a mention', async () => {
    expect(existsSync(join(out, 'src/main.js'))).toBe(true);
    expect(existsSync(join(out, 'src/main.ts'))).toBe(false);
    app = await startChild({ ...fakeEnv({ ds, slack }), DATA_DIR: tempDir('build-data') }, { compiled: out });
    const event = fixture('slack.json').mention;
    expect((await postSlack(app.url, event)).status).toBe(200);
    await slack.log.waitFor((c) => c.method === 'chat.stopStream' || (c.method === 'chat.postMessage' && c.args.thread_ts === event.event.ts), 15_000, 'reply');
    expect(app.output()).not.toMatch(/tsx|ERR_/);
  }, 60_000);
});
