import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { Threadline } from '../../src/app.js';
import { boot, fakeEnv } from '../app-harness.js';
import { launchBrowser, screenshot } from '../browser.js';
import { startChild } from '../child-process.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { tempDir } from '../helpers.js';

const TOKEN = 'playground-token-0123456789';
let ds: FakeDashScope;
let app: Threadline;
let browser: Browser;

beforeAll(async () => {
  ds = await new FakeDashScope().start();
  app = await boot({ ...fakeEnv({ ds }), PLAYGROUND_TOKEN: TOKEN });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await app?.stop(1_000);
  await ds?.stop();
});

const form = (fields: Record<string, string>) => {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.set(k, v);
  return f;
};
const message = { room: 'main', conversation: 'guarded', user: 'u1', name: 'Mallory', text: 'hello' };

describe('PLAYGROUND_TOKEN guards the playground', () => {
  it('refuses every page and API call without the token, and sends a browser to the sign-in form', async () => {
    const before = ds.runCreates().length;
    const res = await fetch(`${app.url}/playground/api/messages`, { method: 'POST', body: form(message), headers: { origin: app.url } });
    expect(res.status).toBe(401);
    expect((await fetch(`${app.url}/playground/api/events?room=main&conversation=guarded`)).status).toBe(401);
    expect((await fetch(`${app.url}/playground/assets/app.js`, { redirect: 'manual' })).status).toBe(302);
    const page = await fetch(`${app.url}/playground`, { redirect: 'manual' });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe('/playground/login');
    expect((await fetch(`${app.url}/playground/login?token=wrong-token-wrong-token`)).status).toBe(401);
    await app.engine.idle();
    expect(ds.runCreates().length).toBe(before);
  });

  it('takes the token from the sign-in form, then the page works; a bearer token works for API calls', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${app.url}/playground#c=signed`);
    expect(new URL(page.url()).pathname).toBe('/playground/login');
    await screenshot(page, 'playground-sign-in');
    await page.locator('input[name=token]').fill('not-the-token-at-all');
    await page.locator('button[type=submit]').click();
    await page.locator('.error').waitFor();
    await page.locator('input[name=token]').fill(TOKEN);
    await page.locator('button[type=submit]').click();
    await page.locator('#text').waitFor();
    // the cookie holds a MAC of the token, not the token
    const cookies = await page.context().cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([['threadline_playground', true, 'Strict']]);
    expect(cookies[0].value).not.toContain(TOKEN);
    ds.model = () => ({ text: 'Signed in and answered.' });
    await page.locator('#text').fill('hi');
    await page.locator('#send').click();
    await page.locator('.reply .body', { hasText: 'Signed in and answered.' }).waitFor();
    const api = await fetch(`${app.url}/playground/api/conversation?room=main&conversation=signed`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(await api.json()).toEqual({ meeting: false });
  });

  it('refuses a form posted from another site, even with the cookie (CSRF)', async () => {
    await app.engine.idle();
    const before = ds.runCreates().length;
    const login = await fetch(`${app.url}/playground/login?token=${TOKEN}`, { redirect: 'manual' });
    const cookie = login.headers.get('set-cookie')!.split(';')[0];
    const res = await fetch(`${app.url}/playground/api/messages`, { method: 'POST', body: form(message), headers: { cookie, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
    expect(res.status).toBe(403);
    const ok = await fetch(`${app.url}/playground/api/messages`, { method: 'POST', body: form({ ...message, conversation: 'csrf-ok' }), headers: { cookie, origin: app.url } });
    expect(ok.status).toBe(202);
    await app.engine.idle();
    expect(ds.runCreates().length).toBe(before + 1);
  });
});

describe('without a token the playground is for this machine only', () => {
  it('answers loopback peers and refuses others', async () => {
    const open = await boot(fakeEnv({ ds }));
    try {
      const web = open.platforms.web.routes!;
      const from = (remoteAddress: string) => web.request('/playground', {}, { incoming: { socket: { remoteAddress, remotePort: 50_000, remoteFamily: 'IPv4' } } });
      expect((await from('127.0.0.1')).status).toBe(200);
      expect((await from('::1')).status).toBe(200);
      const far = await from('10.1.2.3');
      expect(far.status).toBe(403);
      expect(((await far.json()) as { error: string }).error).toMatch(/PLAYGROUND_TOKEN/);
    } finally {
      await open.stop(1_000);
    }
  });

  it('is off when a chat platform is configured, unless PLAYGROUND=on; Slack routes never meet its guard', async () => {
    const slack = await new FakeSlack().start();
    const withSlack = await boot(fakeEnv({ ds, slack }));
    const both = await boot({ ...fakeEnv({ ds, slack }), PLAYGROUND: 'on', PLAYGROUND_TOKEN: TOKEN });
    try {
      expect(Object.keys(withSlack.platforms)).toEqual(['slack']);
      expect((await fetch(`${withSlack.url}/playground`)).status).toBe(404);
      expect(Object.keys(both.platforms).sort()).toEqual(['slack', 'web']);
      // an unsigned Slack request is Slack's to refuse (401 from its verifier), not the playground's redirect
      const res = await fetch(`${both.url}/slack/events`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(401);
      expect(await res.text()).not.toMatch(/playground/i);
    } finally {
      await Promise.all([withSlack.stop(1_000), both.stop(1_000)]);
      await slack.stop();
    }
  });

  it('`npm start` with a DashScope key alone starts the playground on loopback and prints its URL', async () => {
    const child = await startChild({ DASHSCOPE_API_KEY: ds.apiKey, DASHSCOPE_BASE_URL: ds.url, LOG_LEVEL: 'info', HOST: '', DATA_DIR: tempDir('start') });
    try {
      await child.waitForOutput(`Playground: open http://localhost:${child.port}/playground`);
      expect(child.output()).toMatch(/"host":"127\.0\.0\.1"|listening on 127\.0\.0\.1/);
      expect((await fetch(`${child.url}/playground`)).status).toBe(200);
    } finally {
      await child.stop();
    }
  });
});
