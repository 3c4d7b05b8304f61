import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { Threadline } from '../../src/app.js';
import { boot, fakeEnv } from '../app-harness.js';
import { launchBrowser, screenshot } from '../browser.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeImageHost, PNG } from '../fakes/image-server.js';
import { uniquePrefix } from '../helpers.js';

/**
 * The playground in a real browser (Debian's chromium through playwright-core) against the whole
 * service and the fake DashScope: what a person sees on the page.
 */
let ds: FakeDashScope;
let images: FakeImageHost;
let app: Threadline;
let browser: Browser;
const prefix = uniquePrefix('web');

beforeAll(async () => {
  ds = await new FakeDashScope().start();
  images = await new FakeImageHost().start();
  // no Slack, no Discord: the playground is on by itself
  app = await boot({ ...fakeEnv({ ds }), IMAGE_HOSTS: `*.aliyuncs.com,${images.host}`, REDIS_PREFIX: prefix });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await app?.stop(1_000);
  await Promise.all([ds?.stop(), images?.stop()]);
});

/** A new person (a browser context of its own) on a conversation of its own, or on `conversation`. */
async function person(conversation = `c${Math.random().toString(36).slice(2, 10)}`, on: Threadline = app): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1100, height: 720 } })).newPage();
  await page.goto(`${on.url}/playground#c=${conversation}`);
  await page.locator('#text').waitFor();
  return page;
}

async function say(page: Page, text: string): Promise<void> {
  await page.locator('#text').fill(text);
  await page.locator('#send').click();
}

describe('the playground in a browser', () => {
  it('a message gets a reply that streams in, then settles once', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    ds.model = ({ newUserMessages }) => ({ text: ['Hello ', 'from ', 'the ', `assistant: ${newUserMessages.join('')}`], holdAfterFirstDelta: held });
    const page = await person();
    await say(page, 'Hi there');
    // the first piece is on the page while the run is still going
    const reply = page.locator('.reply');
    await expect.poll(() => reply.locator('.body').textContent()).toMatch(/^Hello\s*$/);
    expect(await reply.getAttribute('class')).toContain('streaming');
    await expect.poll(() => page.locator('#stop').isVisible()).toBe(true);
    await screenshot(page, 'playground-streaming');
    release();
    // the model is told who speaks (several tabs may share a conversation)
    await expect.poll(() => reply.locator('.body').textContent()).toMatch(/^Hello from the assistant: Guest \w{4}: Hi there\s*$/);
    expect(await reply.getAttribute('class')).not.toContain('streaming');
    expect(await page.locator('#stop').isVisible()).toBe(false);
    expect(await page.locator('.reply').count()).toBe(1);
    expect(await page.locator('.message.mine .body').textContent()).toBe('Hi there');
    await screenshot(page, 'playground-answered');
  });

  it('an image from the assistant is shown inline, with its bytes', async () => {
    ds.model = () => ({ text: `Here is the fox. ![a red fox](${images.url}/gen/fox/cat.png)` });
    const page = await person();
    await say(page, 'Draw a fox');
    const img = page.locator('.reply figure img');
    await img.waitFor();
    expect(await img.getAttribute('alt')).toBe('a red fox');
    await expect.poll(() => img.evaluate((i) => (i as unknown as { complete: boolean; naturalWidth: number }).naturalWidth)).toBeGreaterThan(0);
    const src = await img.getAttribute('src');
    const bytes = Buffer.from(await page.evaluate(async (u) => [...new Uint8Array(await (await fetch(u)).arrayBuffer())], src!));
    expect(bytes.equals(PNG)).toBe(true);
    expect(await page.locator('.reply .body').textContent()).toContain('Here is the fox.');
  });

  it('Stop stops the answer: the run is cancelled and the page says so', async () => {
    ds.model = () => ({ text: ['Counting: 1', ', 2', ', 3'], hang: true });
    const page = await person();
    await say(page, 'Count to a million');
    await page.locator('#stop').waitFor({ state: 'visible' });
    const started = ds.runCreates().length;
    await page.locator('#stop').click();
    await page.locator('.notice', { hasText: 'Stopped.' }).waitFor();
    await expect.poll(() => page.locator('#stop').isVisible()).toBe(false);
    const run = [...ds.runs.values()].at(-1)!;
    expect(run.cancelRequested).toBe(true);
    expect(ds.runCreates().length).toBe(started);
  });

  it('a file attached on the page reaches DashScope byte for byte', async () => {
    ds.model = ({ newUserMessages }) => ({ text: `I read: ${newUserMessages.join('')}` });
    const page = await person();
    const csv = Buffer.from('region,revenue\nnorth,12\nsouth,7\n');
    await page.locator('#files').setInputFiles({ name: 'sales.csv', mimeType: 'text/csv', buffer: csv });
    await say(page, 'Summarize this');
    await page.locator('.reply .body', { hasText: 'I read:' }).waitFor();
    const uploaded = [...ds.files.values()].find((f) => f.name === 'sales.csv');
    expect(uploaded?.bytes.equals(csv)).toBe(true);
    expect(await page.locator('.message.mine .file').textContent()).toBe('📎 sales.csv');
  });

  it('tools: a local function runs, a code step is shown, and a file the answer carries can be downloaded', async () => {
    const csv = Buffer.from('item,total\napples,3\n');
    ds.model = ({ round }) =>
      round === 0
        ? { toolCalls: [{ name: 'get_current_time', arguments: {} }] }
        : { codeInterpreter: { input: 'print(6 * 7)', output: '42' }, answerFiles: { path: { name: 'totals.csv', bytes: csv, contentType: 'text/csv' } }, text: 'Computed.' };
    const page = await person();
    await say(page, 'What time is it, and what is 6 times 7?');
    const reply = page.locator('.reply');
    await reply.locator('.body', { hasText: 'Computed.' }).waitFor();
    // the local function's output went back to the run
    const run = [...ds.runs.values()].at(-1)!;
    expect(ds.log.filter((c) => c.path.endsWith(`/runs/${run.id}/submit_tool_outputs`))).toHaveLength(1);
    expect(await reply.locator('.code pre').first().textContent()).toBe('print(6 * 7)');
    expect(await reply.locator('.code pre.output').textContent()).toBe('42');
    const link = reply.locator('a.attachment');
    expect(await link.getAttribute('download')).toBe('totals.csv');
    const bytes = Buffer.from(await page.evaluate(async (u) => [...new Uint8Array(await (await fetch(u)).arrayBuffer())], (await link.getAttribute('href'))!));
    expect(bytes.equals(csv)).toBe(true);
    await screenshot(page, 'playground-tools');
  });

  it('a message that waits for a free turn says it is in line, then is answered in its place', async () => {
    // one turn at a time: the second person's message waits while the first is answered
    const busy = await boot({ ...fakeEnv({ ds }), REDIS_PREFIX: uniquePrefix('web-busy'), TURN_CONCURRENCY: '1' });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    ds.model = ({ newUserMessages }) => (newUserMessages.join().includes('first') ? { text: 'first answer', until: held } : { text: 'second answer' });
    try {
      const first = await person(undefined, busy);
      const second = await person(undefined, busy);
      await say(first, 'first question');
      await expect.poll(() => busy.engine.busy).toBe(1);
      await say(second, 'second question');
      const reply = second.locator('.reply');
      await expect.poll(() => reply.locator('.status').textContent()).toBe('Many questions at once: yours is in line…');
      expect(busy.engine.backlog().waiting).toBe(1);
      expect(await reply.locator('.body').textContent()).toBe('');
      await screenshot(second, 'playground-waiting');
      release();
      await expect.poll(() => reply.locator('.body').textContent()).toMatch(/^second answer\s*$/);
      expect(await reply.locator('.status').textContent()).toBe('');
      expect(await second.locator('.reply').count()).toBe(1);
    } finally {
      release();
      await busy.stop(1_000);
    }
  });

  it('model output with <script> is shown as text and never runs', async () => {
    ds.model = () => ({ text: 'Try <script>window.pwned = 1</script> and <img src=x onerror="window.pwned=2"> **bold**' });
    const page = await person();
    await say(page, 'Show me HTML');
    const body = page.locator('.reply .body');
    await body.locator('strong').waitFor();
    expect(await body.textContent()).toContain('<script>window.pwned = 1</script>');
    expect(await body.locator('script, img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { pwned?: number }).pwned)).toBeUndefined();
  });

  it('two tabs take meeting notes together, and both get the minutes', async () => {
    ds.model = ({ newUserMessages }) => ({ text: newUserMessages.some((m) => m.includes('budget')) ? 'Minutes: the budget was approved.' : 'Noted.' });
    const alice = await person();
    const conversation = new URL(alice.url()).hash.slice(3);
    const bob = await person(conversation);
    await alice.locator('#my-name').fill('Alice');
    await alice.locator('#my-name').dispatchEvent('change');
    await bob.locator('#my-name').fill('Bob');
    await bob.locator('#my-name').dispatchEvent('change');
    await alice.locator('#meeting').click();
    await bob.locator('#meeting-badge').waitFor({ state: 'visible' });
    await say(bob, 'I propose we approve the budget');
    await say(alice, 'Agreed, approved');
    // each tab sees the other's lines as notes
    await alice.locator('.message.notes', { hasText: 'I propose we approve the budget' }).waitFor();
    await bob.locator('.message.notes', { hasText: 'Agreed, approved' }).waitFor();
    await screenshot(bob, 'playground-meeting');
    await alice.locator('#meeting').click();
    for (const tab of [alice, bob]) {
      const minutes = tab.locator('.minutes');
      await minutes.waitFor();
      expect(await minutes.textContent()).toContain('the budget was approved');
      expect(await minutes.locator('a[download]').getAttribute('download')).toMatch(/^minutes-.*\.md$/);
    }
    await expect.poll(() => bob.locator('#meeting-badge').isVisible()).toBe(false);
  });

  it('two instances on one Redis: a tab on one sees the answer to a tab on the other, image included', async () => {
    const second = await boot({ ...fakeEnv({ ds }), IMAGE_HOSTS: `*.aliyuncs.com,${images.host}`, REDIS_PREFIX: prefix });
    try {
      ds.model = () => ({ text: `Drawn on request. ![a blue fox](${images.url}/gen/blue/cat.png)` });
      const watcher = await person(undefined, app);
      const conversation = new URL(watcher.url()).hash.slice(3);
      const asker = await person(conversation, second);
      await say(asker, 'Draw a blue fox');
      // the watcher's instance heard the message, the streamed reply and the image from the store
      await watcher.locator('.message', { hasText: 'Draw a blue fox' }).waitFor();
      const img = watcher.locator('.reply figure img');
      await img.waitFor();
      await expect.poll(() => img.evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(0);
      expect(await watcher.locator('.reply').count()).toBe(1);
      expect(await asker.locator('.reply').count()).toBe(1);
    } finally {
      await second.stop(1_000);
    }
  });
});

describe('the playground on the embedded file store', () => {
  it('answers with the image held in memory (one instance, no Redis)', async () => {
    const local = await boot({ ...fakeEnv({ ds }), IMAGE_HOSTS: `*.aliyuncs.com,${images.host}`, REDIS_URL: '' });
    try {
      expect(local.store.kind).toBe('file');
      ds.model = () => ({ text: `Here. ![a green fox](${images.url}/gen/green/cat.png)` });
      const page = await person(undefined, local);
      await say(page, 'Draw a green fox');
      const img = page.locator('.reply figure img');
      await img.waitFor();
      await expect.poll(() => img.evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(0);
    } finally {
      await local.stop(1_000);
    }
  });
});
