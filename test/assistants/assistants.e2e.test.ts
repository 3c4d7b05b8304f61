import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { boot, fakeEnv, fixture, postSlack } from '../app-harness.js';
import { tempDir } from '../helpers.js';

/**
 * Issue 16: one Threadline serving named assistants to different channels, through the real Bolt
 * against the fakes. The support channel is routed to `support` by the file; a channel admin
 * switches another channel from the chat; a conversation keeps the assistant it started with.
 */
const mentionFixture = fixture('slack.json').mention;
const TEAM = 'T00FAKE00AA';
let ds: FakeDashScope;
let slack: FakeSlack;
let app: Threadline;
let n = 0;

function mention(channel: string, text: string, user = 'U00FAKEUSER1', threadTs?: string) {
  const ts = `17710${String(++n).padStart(5, '0')}.000100`;
  return {
    ...mentionFixture,
    team_id: TEAM,
    event_id: `EvAS${n}`,
    event: { ...mentionFixture.event, channel, user, ts, event_ts: ts, text: `<@U00FAKEBOT01> ${text}`, ...(threadTs ? { thread_ts: threadTs } : {}) },
  };
}
const replies = (ev: { event: { channel: string; ts: string; thread_ts?: string } }) => slack.visible(ev.event.channel, ev.event.thread_ts ?? ev.event.ts).join('\n');
const assistantIdOf = (name: string) => [...ds.assistants.values()].find((a) => a.name === name)!.id as string;
const lastRunAssistant = () => ds.runCreates().at(-1)!.body.assistant_id as string;

beforeAll(async () => {
  [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
  ds.model = ({ run }) => ({ text: `(${String(run.body.assistant_id)}) ok` });
  slack.users = { U00FAKEUSER1: { name: 'Ada' }, U00FAKEADMIN: { name: 'Root', is_admin: true } };
  const file = join(tempDir('assistants'), 'assistants.json');
  writeFileSync(
    file,
    JSON.stringify({
      assistants: {
        default: { model: 'qwen-plus', instructions: 'You are a helpful teammate.' },
        support: { model: 'qwen-max', instructions: 'You answer support questions.', tools: ['code_interpreter'], functions: [] },
        data: { model: 'qwen-max', instructions: 'You analyse data.' },
      },
      routes: [{ slack: { team: TEAM, channel: 'CSUPPORT' }, assistant: 'support' }],
    }),
  );
  app = await boot({ ...fakeEnv({ ds, slack }), ASSISTANTS_FILE: file, ASSISTANT_NAME: 'Acme' });
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([ds.stop(), slack.stop()]);
});

describe('named assistants', () => {
  it('bootstraps each under its own name, with its own model and instructions', () => {
    const byName = new Map([...ds.assistants.values()].map((a) => [a.name, a]));
    expect(byName.get('Acme')).toMatchObject({ model: 'qwen-plus', instructions: 'You are a helpful teammate.' });
    expect(byName.get('Acme-support')).toMatchObject({ model: 'qwen-max', instructions: 'You answer support questions.', tools: [{ type: 'code_interpreter' }] });
  });

  it('the file routes the support channel to support and everything else to default; support sees no local functions', async () => {
    const inSupport = mention('CSUPPORT', 'my order is late');
    const elsewhere = mention('CGENERAL', 'hello');
    await postSlack(app.url, inSupport);
    await postSlack(app.url, elsewhere);
    await app.slack!.idle();
    const runs = ds.runCreates().slice(-2);
    const byThread = new Map(runs.map((r) => [r.path.split('/')[2], r]));
    expect([...byThread.values()].map((r) => r.body.assistant_id).sort()).toEqual([assistantIdOf('Acme'), assistantIdOf('Acme-support')].sort());
    expect(replies(inSupport)).toContain(`(${assistantIdOf('Acme-support')}) ok`);
    expect(replies(elsewhere)).toContain(`(${assistantIdOf('Acme')}) ok`);
    const supportRun = runs.find((r) => r.body.assistant_id === assistantIdOf('Acme-support'))!;
    expect((supportRun.body.tools as Array<{ type: string }>).filter((t) => t.type === 'function')).toEqual([]);
    const defaultRun = runs.find((r) => r.body.assistant_id === assistantIdOf('Acme'))!;
    expect((defaultRun.body.tools as Array<{ type: string; function?: { name: string } }>).map((t) => t.function?.name)).toContain('get_current_time');
  });

  it("`assistant` says which one a channel uses; help lists that assistant's tools", async () => {
    const show = mention('CSUPPORT', 'assistant');
    await postSlack(app.url, show);
    await app.slack!.idle();
    expect(replies(show)).toMatch(/This channel uses \*\*support\*\*: run Python code/);
    const help = mention('CSUPPORT', 'help');
    await postSlack(app.url, help);
    await app.slack!.idle();
    expect(replies(help)).toMatch(/run Python code/);
    expect(replies(help)).toMatch(/assistant use <name>/);
  });

  it('only an admin may switch a channel; the choice applies to new conversations, a conversation keeps its assistant until reset', async () => {
    const before = mention('CGENERAL', 'first question');
    await postSlack(app.url, before);
    await app.slack!.idle();
    expect(lastRunAssistant()).toBe(assistantIdOf('Acme'));

    const refused = mention('CGENERAL', 'assistant use support');
    await postSlack(app.url, refused);
    await app.slack!.idle();
    // told to the person alone (ephemeral), not to the channel
    const whisper = slack.calls('chat.postEphemeral').at(-1)!.args;
    expect(whisper).toMatchObject({ channel: 'CGENERAL', user: 'U00FAKEUSER1', thread_ts: refused.event.ts });
    expect(whisper.text).toMatch(/Only a workspace admin/);
    expect(replies(refused)).not.toMatch(/Only a workspace admin/);

    const switched = mention('CGENERAL', 'assistant use support', 'U00FAKEADMIN');
    await postSlack(app.url, switched);
    await app.slack!.idle();
    expect(replies(switched)).toMatch(/From the next conversation, this channel uses \*\*support\*\*/);

    // the earlier conversation goes on with default
    await postSlack(app.url, mention('CGENERAL', 'and a follow-up', 'U00FAKEUSER1', before.event.ts));
    await app.slack!.idle();
    expect(lastRunAssistant()).toBe(assistantIdOf('Acme'));
    // a new one starts with support, and `assistant` in the old one says so
    await postSlack(app.url, mention('CGENERAL', 'new question'));
    await app.slack!.idle();
    expect(lastRunAssistant()).toBe(assistantIdOf('Acme-support'));
    const showOld = mention('CGENERAL', 'assistant', 'U00FAKEUSER1', before.event.ts);
    await postSlack(app.url, showOld);
    await app.slack!.idle();
    expect(replies(showOld)).toMatch(/This conversation keeps \*\*default\*\*, the assistant it started with, until `reset`/);

    // `use default` clears the choice: the file's routes apply again
    const cleared = mention('CGENERAL', 'assistant use default', 'U00FAKEADMIN');
    await postSlack(app.url, cleared);
    await app.slack!.idle();
    await postSlack(app.url, mention('CGENERAL', 'another new question'));
    await app.slack!.idle();
    expect(lastRunAssistant()).toBe(assistantIdOf('Acme'));
  });

  it("a channel's choice wins over the file's route for that channel, and clearing it gives the route back", async () => {
    const chosen = mention('CSUPPORT', 'assistant use data', 'U00FAKEADMIN');
    await postSlack(app.url, chosen);
    await app.slack!.idle();
    await postSlack(app.url, mention('CSUPPORT', 'a data question'));
    await app.slack!.idle();
    expect(lastRunAssistant()).toBe(assistantIdOf('Acme-data'));
    await postSlack(app.url, mention('CSUPPORT', 'assistant use default', 'U00FAKEADMIN'));
    await app.slack!.idle();
    await postSlack(app.url, mention('CSUPPORT', 'a support question'));
    await app.slack!.idle();
    expect(lastRunAssistant()).toBe(assistantIdOf('Acme-support'));
  });

  it('`assistant list` names them all; an unknown name is refused', async () => {
    const list = mention('CGENERAL', 'assistant list');
    await postSlack(app.url, list);
    await app.slack!.idle();
    expect(replies(list)).toMatch(/\*\*default\*\*[\s\S]*\*\*support\*\*: run Python code/);
    const unknown = mention('CGENERAL', 'assistant use nobody', 'U00FAKEADMIN');
    await postSlack(app.url, unknown);
    await app.slack!.idle();
    expect(replies(unknown)).toMatch(/There is no assistant called nobody/);
  });
});
