import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeResponses } from '../fakes/responses.js';
import { FakeSlack } from '../fakes/slack.js';
import { SIGNING_SECRET, boot, fakeEnv, fixture, postSlack } from '../app-harness.js';
import { REDIS_URL, uniquePrefix } from '../helpers.js';

/**
 * An app created today from the repository's manifest: the agent messaging experience
 * (agent_view). The shapes of app_home_opened, app_context_changed and a DM with app_context
 * follow the Chat SDK's recorded payloads (vercel/chat adapter-slack/sample-messages.md);
 * agent_session_stopped follows its reference page (docs.slack.dev). None is in our own recordings.
 */
const dm = fixture('dm-slack.json').dmMessage;
const mentionFixture = fixture('slack.json').mention;
const TEAM = 'T00FAKE00AA';
let n = 0;

function envelope(event: Record<string, unknown>) {
  return {
    token: dm.token,
    team_id: TEAM,
    api_app_id: dm.api_app_id,
    type: 'event_callback',
    event_id: `EvAV${++n}`,
    event_time: Math.floor(Date.now() / 1000),
    event,
    authorizations: dm.authorizations,
  };
}
function dmMessage(channel: string, text: string, extra: Record<string, unknown> = {}) {
  const ts = `17680${String(++n).padStart(5, '0')}.000100`;
  return { ...dm, event_id: `EvAVM${n}`, event: { ...dm.event, channel, ts, event_ts: ts, text, ...extra } };
}
function mention(text: string) {
  const ts = `17681${String(++n).padStart(5, '0')}.000100`;
  return { ...mentionFixture, event_id: `EvAVN${n}`, event: { ...mentionFixture.event, ts, event_ts: ts, text: `<@U00FAKEBOT01> ${text}` } };
}
function stopped(channel: string, threadTs: string, streams: string[]) {
  return envelope({ type: 'agent_session_stopped', channel, thread_ts: threadTs, streaming_message_ts: streams, user: 'U00FAKEUSER1', event_ts: `${Date.now() / 1000}` });
}
describe('the manifest', () => {
  it('declares the agent messaging experience, its events and scopes', () => {
    const manifest = JSON.parse(readFileSync(join(import.meta.dirname, '../../adapters/slack/manifest.json'), 'utf8'));
    expect(manifest.features.agent_view.agent_description).toMatch(/\w/);
    expect(manifest.features.assistant_view).toBeUndefined();
    expect(manifest.settings.event_subscriptions.bot_events).toEqual(
      expect.arrayContaining(['app_home_opened', 'app_context_changed', 'agent_session_stopped', 'agent_session_title_changed', 'message.im', 'app_mention']),
    );
    expect(manifest.oauth_config.scopes.bot).toEqual(expect.arrayContaining(['assistant:write', 'chat:write', 'im:history']));
  });
});

describe('an app on agent_view', () => {
  let ds: FakeDashScope;
  let slack: FakeSlack;
  let app: Threadline;

  beforeAll(async () => {
    [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
    slack.users.U00FAKEUSER1 = { name: 'Ada Lovelace' };
    app = await boot(fakeEnv({ ds, slack }));
  });
  afterAll(async () => {
    await app?.stop(1_000);
    await Promise.all([ds.stop(), slack.stop()]);
  });
  beforeEach(() => {
    slack.agentSessions = true;
    ds.model = ({ newUserMessages }) => ({ text: ['You said: ', newUserMessages.join(' | ')] });
  });

  it('opening the Messages tab sets suggested prompts (once a day); a top-level DM is answered in its own thread, streamed, in a session, with what the person looks at', async () => {
    const home = envelope({
      type: 'app_home_opened',
      user: 'U00FAKEUSER1',
      channel: 'D0AGENT01',
      tab: 'messages',
      event_ts: '1771460700.333100',
      context: { entities: [{ type: 'slack#/types/channel_id', value: 'C00FAKECHAN1' }] },
    });
    await postSlack(app.url, home);
    await postSlack(app.url, { ...home, event_id: 'EvAVhome2' });
    await app.slack!.idle();
    const prompts = slack.calls('assistant.threads.setSuggestedPrompts').filter((c) => c.args.channel_id === 'D0AGENT01');
    expect(prompts).toHaveLength(1);
    expect(prompts[0].args.prompts.length).toBeGreaterThan(0);

    await postSlack(
      app.url,
      envelope({
        type: 'app_context_changed',
        channel: 'D0AGENT01',
        user: 'U00FAKEUSER1',
        context: { entities: [{ type: 'slack#/types/channel_id', value: 'C00FAKECHAN7', team_id: TEAM }] },
        event_ts: '1771460500.111180',
      }),
    );
    const first = dmMessage('D0AGENT01', 'what is going on in there?');
    await postSlack(app.url, first);
    await app.slack!.idle();
    expect(slack.visible('D0AGENT01', first.event.ts)).toEqual(['You said: what is going on in there?']);
    expect(slack.calls('chat.startStream').at(-1)!.args.thread_ts).toBe(first.event.ts);
    expect(ds.runCreates().at(-1)!.body.additional_instructions).toMatch(/<#C00FAKECHAN7>/);
    expect(slack.sessions.get(`D0AGENT01:${first.event.ts}`)).toEqual({ statuses: ['processing', 'active'], title: 'what is going on in there?' });
    // the stream's stop took the session out of processing: three Web API calls for the reply, no setStatus after it
    expect(
      slack
        .calls('agents.sessions.setStatus')
        .filter((c) => c.args.thread_ts === first.event.ts)
        .map((c) => c.args.status),
    ).toEqual(['processing']);
    expect(slack.calls('reactions.add').filter((c) => c.args.channel === 'D0AGENT01')).toHaveLength(0); // the session shows progress

    // the next top-level message is a new thread, a new conversation; a folded app_context wins over the remembered one
    const threads = ds.threads.size;
    const second = dmMessage('D0AGENT01', 'summarize this', {
      app_context: { entities: [{ type: 'slack#/types/message_context', value: { message_ts: '1771460400.100100', channel_id: 'C00FAKECHAN2' }, team_id: TEAM }] },
    });
    await postSlack(app.url, second);
    await app.slack!.idle();
    expect(ds.threads.size).toBe(threads + 1);
    expect(slack.visible('D0AGENT01', second.event.ts)).toEqual(['You said: summarize this']);
    expect(ds.runCreates().at(-1)!.body.additional_instructions).toMatch(/message in the channel <#C00FAKECHAN2>/);

    // a reply inside that thread continues its conversation
    const reply = dmMessage('D0AGENT01', 'and more', { thread_ts: second.event.ts });
    await postSlack(app.url, reply);
    await app.slack!.idle();
    expect(ds.threads.size).toBe(threads + 1);
    expect(slack.visible('D0AGENT01', second.event.ts)).toHaveLength(2);
  });

  it('a reply longer than one message: each stopped stream ends processing, so the session is set working again for the next one and ends active', async () => {
    const long = Array.from({ length: 450 }, (_, i) => `Sentence number ${i} of a long answer.`).join(' ');
    ds.model = () => ({ text: long.match(/[\s\S]{1,1200}/g)!, delayMs: 2 });
    const ev = mention('tell me everything');
    await postSlack(app.url, ev);
    await app.slack!.idle();
    const streams = slack.calls('chat.startStream').filter((c) => c.args.thread_ts === ev.event.ts);
    expect(streams).toHaveLength(2);
    expect(slack.visible(ev.event.channel, ev.event.ts).join(' ').replace(/\s+/g, ' ')).toBe(long);
    // processing → (first stream stopped) active → processing again → (last stream stopped) active
    expect(slack.sessions.get(`${ev.event.channel}:${ev.event.ts}`)!.statuses).toEqual(['processing', 'active', 'processing', 'active']);
  });

  it('Stop during a streamed reply: the run is stopped, nothing more is appended, the thread says it stopped and the session leaves processing', async () => {
    let release!: () => void;
    ds.model = () => ({ text: ['the first words', ' and the rest'], holdAfterFirstDelta: new Promise<void>((r) => (release = r)) });
    const ev = mention('write a long essay');
    await postSlack(app.url, ev);
    const stream = await slack.log.waitFor((c) => c.method === 'chat.startStream' && c.args.thread_ts === ev.event.ts);
    slack.clickStop([stream.result.ts]);
    const clicked = slack.log.calls.length;
    expect((await postSlack(app.url, stopped(ev.event.channel, ev.event.ts, [stream.result.ts]))).status).toBe(200);
    await app.slack!.idle();
    release();
    const after = slack.log.calls.slice(clicked);
    expect(after.filter((c) => c.method === 'chat.appendStream' && c.result?.ok)).toHaveLength(0);
    expect(slack.visible(ev.event.channel, ev.event.ts)).toEqual(['the first words', '_(stopped)_']);
    expect(slack.sessions.get(`${ev.event.channel}:${ev.event.ts}`)!.statuses.at(-1)).toBe('active');
    expect(ds.log.filter((c) => /\/runs\/[^/]+\/cancel$/.test(c.path))).not.toHaveLength(0);
    expect(slack.visible(ev.event.channel, ev.event.ts).join()).not.toContain('the rest');
  });

  it('a streamed reply ends with 👍/👎; a click is counted and logged with the conversation and the run', async () => {
    const ev = mention('rate me');
    await postSlack(app.url, ev);
    await app.slack!.idle();
    const stop = slack
      .calls('chat.stopStream')
      .filter((c) => slack.calls('chat.startStream').some((s) => s.result?.ts === c.args.ts && s.args.thread_ts === ev.event.ts))
      .at(-1)!;
    const block = stop.args.blocks[0];
    expect(block).toMatchObject({
      type: 'context_actions',
      elements: [{ type: 'feedback_buttons', action_id: 'threadline_feedback', positive_button: { value: 'good' }, negative_button: { value: 'bad' } }],
    });
    const runId = [...ds.runs.keys()].at(-1)!;
    expect(block.block_id).toBe(`threadline_feedback:${runId}`);
    const recorded = fixture('channel-slack.json').channel_post_action;
    const click = {
      ...recorded,
      container: { ...recorded.container, message_ts: stop.args.ts, thread_ts: ev.event.ts },
      message: { ...recorded.message, ts: stop.args.ts, thread_ts: ev.event.ts },
      actions: [{ type: 'feedback_buttons', action_id: 'threadline_feedback', block_id: block.block_id, value: 'good', action_ts: '1771287154.085947' }],
    };
    expect((await postSlack(app.url, { payload: JSON.stringify(click) }, { form: true })).status).toBe(200);
    await app.slack!.idle();
    expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/threadline_feedback_total\{platform="slack",value="good"\} 1/);
  });

  it("a function call is a task in the stream's timeline: in progress, then complete, then the answer", async () => {
    ds.model = ({ toolOutputs }) => (toolOutputs.length ? { text: 'It is noon somewhere.' } : { toolCalls: [{ name: 'get_current_time', arguments: { timezone: 'UTC' } }] });
    const ev = mention('what time is it?');
    await postSlack(app.url, ev);
    await app.slack!.idle();
    const start = slack.calls('chat.startStream').find((c) => c.args.thread_ts === ev.event.ts)!;
    expect(start.args.task_display_mode).toBe('timeline');
    const chunks = [start, ...slack.calls('chat.appendStream').filter((c) => c.args.ts === start.result.ts)].flatMap((c) => c.args.chunks ?? []);
    expect(chunks.map((c: { title: string; status: string }) => `${c.title}: ${c.status}`)).toEqual(['Using get_current_time: in_progress', 'Using get_current_time: complete']);
    expect(slack.visible(ev.event.channel, ev.event.ts)).toEqual(['It is noon somewhere.']);
  });

  it('a session titled by a short opening is renamed after the heading the answer opens with', async () => {
    ds.model = () => ({ text: '# Planning the Q3 offsite\nHere is a plan.' });
    const hi = dmMessage('D0AGENT02', 'hi');
    await postSlack(app.url, hi);
    await app.slack!.idle();
    expect(slack.sessions.get(`D0AGENT02:${hi.event.ts}`)!.title).toBe('Planning the Q3 offsite');
    const long = dmMessage('D0AGENT02', 'help me plan the offsite for the whole team');
    await postSlack(app.url, long);
    await app.slack!.idle();
    expect(slack.sessions.get(`D0AGENT02:${long.event.ts}`)!.title).toBe('help me plan the offsite for the whole team');
  });

  it('Stop with nothing running still takes the session out of processing', async () => {
    await postSlack(app.url, stopped('C00FAKECHAN1', '1768199999.000100', []));
    await app.slack!.idle();
    expect(slack.sessions.get('C00FAKECHAN1:1768199999.000100')?.statuses).toEqual(['active']);
  });

  it('/assistant in a channel the bot is not in: the answer comes through the response_url, with how to invite the bot; never silence', async () => {
    const slash = fixture('slash-commands-slack.json').slashCommand;
    slack.notMember.add('C0NOTMEMBER');
    const command = (text: string, id: string) => ({
      ...slash,
      command: '/assistant',
      text,
      team_id: TEAM,
      channel_id: 'C0NOTMEMBER',
      user_id: 'U00FAKEUSER1',
      trigger_id: `trig-${id}`,
      response_url: slack.responseUrl(id),
    });
    expect((await postSlack(app.url, command('what is a monad?', 'q1'), { form: true })).status).toBe(200);
    await app.slack!.idle();
    const answered = slack.log.filter((c) => c.method === 'response_url' && c.args.id === 'q1');
    expect(answered).toHaveLength(1);
    expect(answered[0].args).toMatchObject({ response_type: 'ephemeral' });
    expect(answered[0].text).toMatch(/^You said: what is a monad\?/);
    expect(answered[0].text).toMatch(/\/invite @Threadline/);
    expect(slack.calls('chat.postMessage').filter((c) => c.args.channel === 'C0NOTMEMBER' && c.result?.ok)).toHaveLength(0);

    await postSlack(app.url, command('help', 'h1'), { form: true });
    await app.slack!.idle();
    const help = slack.log.filter((c) => c.method === 'response_url' && c.args.id === 'h1');
    expect(help).toHaveLength(1);
    expect(help[0].text).toMatch(/Commands/);
  });

  it('a workspace without agent sessions falls back to the 👀 reaction, silently', async () => {
    slack.agentSessions = false;
    const ev = mention('no sessions here');
    await postSlack(app.url, ev);
    await app.slack!.idle();
    expect(slack.calls('reactions.add').some((c) => c.args.timestamp === ev.event.ts)).toBe(true);
    expect(slack.visible(ev.event.channel, ev.event.ts)).toEqual(['You said: Ada Lovelace: no sessions here']);
    expect(slack.repliesIn(ev.event.channel, ev.event.ts).some((c) => /warning/.test(String(c.text)))).toBe(false);
  });
});

describe('Stop clicked while another instance runs the turn', () => {
  it('reaches the turn on that instance (Responses backend: no server-side cancel), which stops at once', async () => {
    const [rs, slack] = await Promise.all([new FakeResponses().start(), new FakeSlack().start()]);
    const env = {
      DASHSCOPE_API: 'responses',
      DASHSCOPE_API_KEY: rs.apiKey,
      DASHSCOPE_BASE_URL: rs.baseUrl,
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      REDIS_URL,
      REDIS_PREFIX: uniquePrefix('stop2'),
    };
    const a = await boot(env);
    const b = await boot(env);
    try {
      await Promise.all([a.engine.listening, b.engine.listening]);
      let release!: () => void;
      rs.model = () => ({ text: ['streaming on A', ' never shown'], holdAfterFirstDelta: new Promise<void>((r) => (release = r)) });
      const ev = mention('long answer please');
      await postSlack(a.url, ev);
      const stream = await slack.log.waitFor((c) => c.method === 'chat.startStream' && c.args.thread_ts === ev.event.ts);
      slack.clickStop([stream.result.ts]);
      const aborted = rs.aborted;
      await postSlack(b.url, stopped(ev.event.channel, ev.event.ts, [stream.result.ts]));
      await b.slack!.idle();
      await a.slack!.idle();
      release();
      expect(rs.aborted).toBe(aborted + 1);
      expect(slack.visible(ev.event.channel, ev.event.ts)).toEqual(['streaming on A', '_(stopped)_']);
      expect(slack.sessions.get(`${ev.event.channel}:${ev.event.ts}`)!.statuses.at(-1)).toBe('active');
    } finally {
      await Promise.all([a.stop(1_000), b.stop(1_000)]);
      await Promise.all([rs.stop(), slack.stop()]);
    }
  });
});
