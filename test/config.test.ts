import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { tempDir } from './helpers.js';

const base = { DASHSCOPE_API_KEY: 'sk-abcdefghijklmnop', SLACK_BOT_TOKEN: 'xoxb-1-2-abc', SLACK_SIGNING_SECRET: 'shh' };

describe('configuration', () => {
  it('reads defaults', () => {
    const c = loadConfig(base, null);
    expect(c).toMatchObject({
      port: 3000,
      dataDir: './data',
      dashscope: { baseUrl: 'https://dashscope-intl.aliyuncs.com/api/v1' },
      assistant: { name: 'Threadline', model: 'qwen-plus', tools: ['text_to_image'] },
      slack: { apiUrl: 'https://slack.com/api/' },
      imageHosts: ['dashscope-result*.aliyuncs.com'],
    });
    expect(c.discord).toBeUndefined();
    expect(c.redisUrl).toBeUndefined();
  });

  it('puts /metrics on a port of its own only when METRICS_PORT is set, on HOST unless METRICS_HOST says otherwise', () => {
    expect(loadConfig(base, null).metrics).toBeUndefined();
    expect(loadConfig({ ...base, METRICS_PORT: '9091', HOST: '::' }, null).metrics).toEqual({ port: 9091, host: '::' });
    expect(loadConfig({ ...base, METRICS_PORT: '9091', METRICS_HOST: '127.0.0.1' }, null).metrics).toEqual({ port: 9091, host: '127.0.0.1' });
    expect(() => loadConfig({ ...base, METRICS_PORT: 'ninety' }, null)).toThrow(/METRICS_PORT/);
  });

  it('names every missing or invalid variable in one error, without their values', () => {
    let err: ConfigError | undefined;
    try {
      loadConfig(
        { SLACK_BOT_TOKEN: 'not-a-bot-token-secret', PORT: 'eighty', CONVERSATION_IDLE_RESET: 'soon', REDIS_URL: 'http://x', DASHSCOPE_BASE_URL: 'nope', ASSISTANT_PLUGIN_TOKENS: 'broken' },
        null,
      );
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const vars = err!.problems.map((p) => p.variable);
    expect(vars).toEqual(
      expect.arrayContaining(['DASHSCOPE_API_KEY', 'SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'PORT', 'CONVERSATION_IDLE_RESET', 'REDIS_URL', 'DASHSCOPE_BASE_URL', 'ASSISTANT_PLUGIN_TOKENS']),
    );
    expect(err!.message).not.toContain('not-a-bot-token-secret');
  });

  it('lets a .env file add to the environment, and the environment win', () => {
    const file = join(tempDir('env'), '.env');
    writeFileSync(file, 'DASHSCOPE_API_KEY=sk-from-file\nDISCORD_TOKEN=from-file\nPORT=4000\n');
    const c = loadConfig({ PORT: '5000' }, file);
    expect(c.port).toBe(5000);
    expect(c.dashscope.apiKey).toBe('sk-from-file');
    expect(c.discord?.token).toBe('from-file');
  });

  it('reports a .env that exists and cannot be read, instead of running without it', () => {
    const dir = tempDir('env');
    expect(() => loadConfig({ ...base }, dir)).toThrow(ConfigError); // a folder where the file should be: EISDIR
    expect(() => loadConfig({ ...base }, join(dir, 'missing.env'))).not.toThrow(); // no .env at all is fine
  });

  it('parses durations, lists and plug-in tokens', () => {
    const c = loadConfig({ ...base, CONVERSATION_IDLE_RESET: '7d', ASSISTANT_TOOLS: 'code_interpreter, text_to_image,my_plugin', ASSISTANT_PLUGIN_TOKENS: 'my_plugin=tok' }, null);
    expect(c.conversationIdleResetMs).toBe(7 * 86_400_000);
    expect(c.assistant.tools).toEqual(['code_interpreter', 'text_to_image', 'my_plugin']);
    expect(c.assistant.pluginTokens).toEqual({ my_plugin: 'tok' });
  });
});

describe('npm start without a DashScope key', () => {
  it('prints what to set, one line per variable with a README pointer, and exits 2 without a stack trace', () => {
    const cwd = tempDir('start');
    const root = join(import.meta.dirname, '..');
    const res = spawnSync(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'src', 'main.ts')], {
      cwd,
      env: { PATH: process.env.PATH, PLAYGROUND: 'off', SLACK_BOT_TOKEN: 'xoxb-secretsecretsecret' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/DASHSCOPE_API_KEY: .*\(see README, Configuration\)/);
    expect(res.stderr).toMatch(/SLACK_SIGNING_SECRET: .*\(see README, Slack\)/);
    expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(res.stderr + res.stdout).not.toContain('secretsecretsecret');
  });
});

describe('logs', () => {
  it('redact tokens and keys by path and by pattern', async () => {
    const { createLogger } = await import('../src/log.js');
    const lines: string[] = [];
    const log = createLogger('info', { write: (l: string) => void lines.push(l) });
    log.info({ config: { dashscope: { apiKey: 'sk-abcdefghijklmnopqrstu' } }, token: 'xoxb-1-2-secret', headers: { authorization: 'Bearer abc.def' } }, 'with secrets');
    log.error({ err: new Error('request failed with Bearer sk-zzzzzzzzzzzzzzz and xoxb-9-9-leak') }, 'boom');
    const all = lines.join('\n');
    for (const secret of ['sk-abcdefghijklmnopqrstu', 'xoxb-1-2-secret', 'abc.def', 'sk-zzzzzzzzzzzzzzz', 'xoxb-9-9-leak']) expect(all).not.toContain(secret);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 'info', msg: 'with secrets', token: '[redacted]' });
  });
});
