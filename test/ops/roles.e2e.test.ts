import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackPlatform } from '../../adapters/slack/platform.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { boot, fakeEnv } from '../app-harness.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeDiscord } from '../fakes/discord.js';
import { FakeSlack } from '../fakes/slack.js';

/** THREADLINE_ROLES: an instance runs the platforms of its roles (fly.toml's process groups). */
let ds: FakeDashScope;
let slack: FakeSlack;
let discord: FakeDiscord;
beforeAll(async () => {
  [ds, slack, discord] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start(), new FakeDiscord().start()]);
});
afterAll(async () => {
  await Promise.all([ds.stop(), slack.stop(), discord.stop()]);
});

describe('roles', () => {
  it.each([
    ['web', ['slack']],
    ['gateway', ['discord']],
    ['web,gateway', ['discord', 'slack']],
  ])('THREADLINE_ROLES=%s runs %j of Slack over HTTP and Discord', async (roles, expected) => {
    const app = await boot({ ...fakeEnv({ ds, slack, discord }), THREADLINE_ROLES: roles });
    try {
      expect(Object.keys(app.platforms).sort()).toEqual(expected);
      // a role without a platform here is still a healthy instance
      expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
      // Slack's route exists only where its role runs: elsewhere Slack gets a 404 and Fly's proxy sends events to web machines
      expect((await fetch(`${app.url}/slack/events`, { method: 'POST', body: '{}' })).status).toBe(expected.includes('slack') ? 401 : 404);
    } finally {
      await app.stop(1_000);
    }
  });

  it('puts Socket Mode with the gateway (it holds a connection), and refuses an unknown role', () => {
    const base = { DASHSCOPE_API_KEY: 'sk-abcdefghijklmnop', SLACK_BOT_TOKEN: 'xoxb-1-2-abc', SLACK_APP_TOKEN: 'xapp-1-2' };
    expect(loadConfig(base, null).roles).toEqual(['web', 'gateway']);
    expect(slackPlatform.role(loadConfig(base, null))).toBe('gateway');
    const { SLACK_APP_TOKEN: _socket, ...http } = base;
    expect(slackPlatform.role(loadConfig({ ...http, SLACK_SIGNING_SECRET: 'shh' }, null))).toBe('web');
    expect(() => loadConfig({ ...base, THREADLINE_ROLES: 'web,worker' }, null)).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, THREADLINE_ROLES: 'web,worker' }, null)).toThrow(/THREADLINE_ROLES: has worker/);
  });
});
