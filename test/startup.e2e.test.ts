import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDashScope } from './fakes/dashscope.js';
import { FakeDiscord } from './fakes/discord.js';
import { FakeSlack } from './fakes/slack.js';
import { SIGNING_SECRET, boot } from './app-harness.js';

let ds: FakeDashScope;
let slack: FakeSlack;
let discord: FakeDiscord;

beforeAll(async () => {
  [ds, slack, discord] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start(), new FakeDiscord().start()]);
});
afterAll(async () => {
  await Promise.all([ds.stop(), slack.stop(), discord.stop()]);
});

describe('startup with a bad token', () => {
  it('Slack: one auth.test, then a clear error naming SLACK_BOT_TOKEN (and no token in it)', async () => {
    const before = slack.calls('auth.test').length;
    const err = await boot({ DASHSCOPE_API_KEY: ds.apiKey, DASHSCOPE_BASE_URL: ds.url, SLACK_BOT_TOKEN: 'xoxb-wrong-token', SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: slack.apiUrl }).catch(
      (e) => e,
    );
    expect(err).toMatchObject({ name: 'SlackAuthError' });
    expect(err.message).toMatch(/SLACK_BOT_TOKEN \(invalid_auth\)/);
    expect(err.message).not.toContain('xoxb-wrong-token');
    expect(slack.calls('auth.test').length - before).toBe(1);
  });

  it('Discord: a clear error naming DISCORD_TOKEN', async () => {
    const err = await boot({ DASHSCOPE_API_KEY: ds.apiKey, DASHSCOPE_BASE_URL: ds.url, DISCORD_TOKEN: 'wrong-token', DISCORD_API_URL: discord.apiBase }).catch((e) => e);
    expect(err).toMatchObject({ name: 'DiscordAuthError' });
    expect(err.message).toMatch(/DISCORD_TOKEN/);
  });

  it('DashScope: a bad API key stops startup with the service error', async () => {
    const err = await boot({
      DASHSCOPE_API_KEY: 'sk-wrongwrongwrong',
      DASHSCOPE_BASE_URL: ds.url,
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
    }).catch((e) => e);
    expect(err).toMatchObject({ name: 'AssistantApiError', code: 'InvalidApiKey', status: 401 });
  });
});
