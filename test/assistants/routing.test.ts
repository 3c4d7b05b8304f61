import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { routeAssistant } from '../../src/engine/assistant-routes.js';
import { channelKeyOf } from '../../src/engine/conversation-key.js';
import { parseCommand } from '../../src/engine/commands.js';
import { discordKeys } from '../../adapters/discord/key.js';
import { slackKeys } from '../../adapters/slack/key.js';

/** What the engine asks the key's own platform. */
const isDirect = (key: string) => (key.includes('slack:') ? slackKeys : discordKeys).isDirect(key);
import { tempDir } from '../helpers.js';

const base = { DASHSCOPE_API_KEY: 'sk-abcdefghijklmnop', SLACK_BOT_TOKEN: 'xoxb-1-2-abc', SLACK_SIGNING_SECRET: 'shh' };
function withFile(content: unknown, env: Record<string, string> = {}) {
  const file = join(tempDir('assistants'), 'assistants.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return loadConfig({ ...base, ASSISTANTS_FILE: file, ...env }, null);
}
function problemsOf(content: unknown, env: Record<string, string> = {}): string[] {
  try {
    withFile(content, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => p.problem);
    throw err;
  }
  return [];
}

/** The example of issue 16, as written. */
const EXAMPLE = {
  assistants: {
    default: { model: 'qwen-plus', instructions: 'You are a helpful teammate.' },
    support: { model: 'qwen-max', instructions: 'You answer support questions.', tools: ['text_to_image'] },
    data: { assistant_id: 'asst_0123' },
  },
  routes: [
    { slack: { team: 'T1', channel: 'C1' }, assistant: 'support' },
    { discord: { guild: 'G1', channel: 'D1' }, assistant: 'data' },
    { slack: { dm: true }, assistant: 'default' },
  ],
};

describe('ASSISTANTS_FILE', () => {
  it('reads the example as written: names at DashScope, defaults from the environment, routes', () => {
    const c = withFile(EXAMPLE, { ASSISTANT_NAME: 'Acme' });
    expect(c.assistants!.assistants.default).toMatchObject({ dashscopeName: 'Acme', model: 'qwen-plus', instructions: 'You are a helpful teammate.', backend: 'assistant' });
    expect(c.assistants!.assistants.support).toMatchObject({ dashscopeName: 'Acme-support', model: 'qwen-max', tools: ['text_to_image'] });
    expect(c.assistants!.assistants.data).toMatchObject({ id: 'asst_0123', tools: [] });
    expect(c.assistants!.routes).toHaveLength(3);
  });

  it('plug-in tokens come from the environment variables the file names, never from the file', () => {
    const c = withFile({ assistants: { support: { model: 'qwen-max', tools: ['my_plugin'], plugins: { my_plugin: { token_env: 'SUPPORT_PLUGIN_TOKEN' } } } } }, { SUPPORT_PLUGIN_TOKEN: 'tok-123' });
    expect(c.assistants!.assistants.support.pluginTokens).toEqual({ my_plugin: 'tok-123' });
    expect(problemsOf({ assistants: { support: { plugins: { my_plugin: { token_env: 'UNSET_VAR' } } } } })).toEqual(['assistants.support.plugins.my_plugin.token_env: UNSET_VAR is not set']);
  });

  it('an assistant may carry its own token budgets; a bad one is named', () => {
    const c = withFile({ assistants: { data: { model: 'qwen-max', budget: { tokens_per_user_day: 5000, tokens_per_channel_day: 0 } } } });
    expect(c.assistants!.assistants.data.budget).toEqual({ perUserDay: 5000, perChannelDay: 0 });
    expect(problemsOf({ assistants: { data: { budget: { tokens_per_day: 5 } } } })).toEqual([
      'assistants.data.budget: takes "tokens_per_user_day" and "tokens_per_channel_day" (whole numbers, 0 = no limit)',
    ]);
  });

  it('a bad file is a clear startup error naming the entry and the field', () => {
    expect(problemsOf('{ not json')[0]).toMatch(/cannot be read as JSON/);
    expect(problemsOf({ assistants: [] })).toEqual(['assistants: must be an object of named assistants']);
    expect(
      problemsOf({
        assistants: { support: { model: 7, backend: 'gpt', tools: 'all' }, data: { assistant_id: 'asst_1', backend: 'responses' } },
        routes: [{ slack: { channel: 5 }, assistant: 'support' }, { assistant: 'nobody', slack: {} }, { assistant: 'support' }],
      }),
    ).toEqual([
      'assistants.support.backend: must be assistant or responses',
      'assistants.support.tools: must be a list of names',
      'assistants.support.model: must be a non-empty string',
      'assistants.data.assistant_id: names an Assistant API assistant: it needs backend assistant',
      'routes[0].slack: takes "team", "channel" (strings) or "dm": true',
      'routes[1].assistant: nobody is not one of the assistants',
      'routes[2]: needs a "slack" or "discord" place',
    ]);
  });
});

describe('routing a conversation to its assistant', () => {
  const routes = withFile(EXAMPLE).assistants!.routes;
  it.each([
    ['slack:T1:C1:1767.0001', 'support'],
    ['slack:T2:C1:1767.0001', 'default'], // another workspace's C1
    ['slack:T1:D0DM:1767.0001', 'default'], // a DM
    ['discord:G1:D1:1457536551830421524', 'data'], // a thread follows its parent channel
    ['discord:G1:D2:1457536551830421524', 'default'],
    ['discord:dm:9', 'default'],
    ['meeting:slack:T1:C1', 'support'], // a meeting in that channel
  ])('%s → %s', (key, name) => {
    expect(routeAssistant(routes, key, isDirect)).toBe(name);
  });

  it('the first rule that matches wins, and a channel key names where a choice is kept', () => {
    expect(
      routeAssistant(
        [
          { slack: { dm: true }, assistant: 'a' },
          { slack: { team: 'T1' }, assistant: 'b' },
        ],
        'slack:T1:D9',
        isDirect,
      ),
    ).toBe('a');
    expect(channelKeyOf('slack:T1:C1:1767.0001')).toBe('slack:T1:C1');
    expect(channelKeyOf('discord:dm:9')).toBe('discord:dm:9');
  });

  it('reads the assistant commands, and not sentences that start with the word', () => {
    expect(parseCommand('assistant')).toEqual({ name: 'assistant', action: 'show' });
    expect(parseCommand('assistant list')).toEqual({ name: 'assistant', action: 'list' });
    expect(parseCommand('assistant use Support')).toEqual({ name: 'assistant', action: 'use', choice: 'support' });
    expect(parseCommand('assistant use')).toBeUndefined();
    expect(parseCommand('assistant, what is 2+2?')).toBeUndefined();
  });
});

describe('the example file in the repository', () => {
  it('is valid as shipped', () => {
    const c = loadConfig({ ...base, ASSISTANTS_FILE: join(import.meta.dirname, '..', '..', 'assistants.example.json') }, null);
    expect(Object.keys(c.assistants!.assistants).sort()).toEqual(['data', 'default', 'support']);
  });
});
