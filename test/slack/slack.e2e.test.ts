import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeImageHost, PNG } from '../fakes/image-server.js';
import { FakeSlack } from '../fakes/slack.js';
import { openFenceAtEnd } from '../../src/engine/format/split.js';
import { boot, fixture, postSlack, fakeEnv } from '../app-harness.js';

const slackJson = fixture('slack.json');
const channelSlack = fixture('channel-slack.json');
const dmSlack = fixture('dm-slack.json');
const slash = fixture('slash-commands-slack.json');

let ds: FakeDashScope;
let slack: FakeSlack;
let images: FakeImageHost;
let app: Threadline;

beforeAll(async () => {
  ds = await new FakeDashScope().start();
  slack = await new FakeSlack().start();
  images = await new FakeImageHost().start();
  slack.users.U00FAKEUSER1 = { name: 'Ada Lovelace' };
  app = await boot({
    ...fakeEnv({ ds, slack }),
    IMAGE_HOSTS: `*.aliyuncs.com,${images.host}`,
    // this suite is an app still on assistant_view (test/slack/agent-view.e2e.test.ts is one on agent_view)
    SLACK_AGENT_VIEW: 'false',
  });
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([ds.stop(), slack.stop(), images.stop()]);
});
beforeEach(() => {
  slack.streaming = true;
  ds.faults = [];
  ds.model = ({ newUserMessages }) => ({ text: ['You said: ', newUserMessages.join(' | ')] });
});

/** The text the person sees in a thread: streamed markdown, or the last edit of each posted message. */
function visibleText(channel: string, threadTs?: string): string {
  return visibleMessages(channel, threadTs).join('\n');
}

/** Each message of a thread as the person sees it. */
function visibleMessages(channel: string, threadTs?: string): string[] {
  return slack.visible(channel, threadTs);
}

describe('receiving', () => {
  it('answers url_verification and ssl_check itself', async () => {
    const res = await postSlack(app.url, { type: 'url_verification', challenge: 'abc123', token: 'x' });
    expect(await res.json()).toEqual({ challenge: 'abc123' });
    const ssl = await postSlack(app.url, { ssl_check: '1', token: 'x' }, { form: true });
    expect(ssl.status).toBe(200);
  });

  it('refuses bad, stale, future, oversized and malformed requests, then still answers a valid event', async () => {
    const body = { ...slackJson.mention, event_id: 'Ev-refusals' };
    expect((await postSlack(app.url, body, { secret: 'wrong' })).status).toBe(401);
    expect((await postSlack(app.url, body, { ts: Math.floor(Date.now() / 1000) - 301 })).status).toBe(401);
    expect((await postSlack(app.url, body, { ts: Math.floor(Date.now() / 1000) + 301 })).status).toBe(401);
    const unsigned = await fetch(`${app.url}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(unsigned.status).toBe(401);
    expect((await postSlack(app.url, null, { raw: 'x'.repeat(1024 * 1024 + 1) })).status).toBe(413);
    expect((await postSlack(app.url, null, { raw: '{"type": "event_callback", ' })).status).toBe(400);
    expect((await postSlack(app.url, null, { raw: '[1,2,3]' })).status).toBe(400);
    expect(ds.runCreates()).toHaveLength(0);
    const res = await postSlack(app.url, body);
    expect(res.status).toBe(200);
    await app.slack!.idle();
    expect(visibleText('C00FAKECHAN1', slackJson.mention.event.ts)).toBe('You said: Ada Lovelace: Hey');
  });
});

describe('conversations', () => {
  it('answers a mention (recorded as a plain message event) in its thread, and a follow-up without a mention', async () => {
    const threadTs = slackJson.mention.event.ts;
    // the mention was answered by the previous test; the follow-up continues the same Assistant thread
    const res = await postSlack(app.url, slackJson.followUp);
    expect(res.status).toBe(200);
    await app.slack!.idle();
    const runs = ds.runCreates();
    expect(runs.length).toBe(2);
    expect(runs[0].path).toBe(runs[1].path); // same Assistant thread
    const streams = slack.calls('chat.startStream').filter((c) => c.args.thread_ts === threadTs);
    expect(streams).toHaveLength(2);
    expect(streams[1].args).toMatchObject({ channel: 'C00FAKECHAN1', thread_ts: threadTs, recipient_user_id: 'U00FAKEUSER1', recipient_team_id: 'T00FAKE00AA' });
    expect(slack.calls('chat.stopStream').length).toBeGreaterThanOrEqual(2);
    expect(ds.messageCreates().at(-1)!.body.content).toBe('Ada Lovelace: Hi');
  });

  it("a passer-by's reset in someone's thread is refused to them alone (ephemeral), and the conversation stays", async () => {
    const threadTs = slackJson.mention.event.ts;
    const before = slack.calls('chat.postMessage').length;
    const stranger = {
      ...slackJson.followUp,
      event_id: 'Ev0STRANGER1',
      event: { ...slackJson.followUp.event, user: 'U0STRANGER', text: 'reset', ts: '1767224999.000100', event_ts: '1767224999.000100' },
    };
    expect((await postSlack(app.url, stranger)).status).toBe(200);
    await app.slack!.idle();
    const whispers = slack.calls('chat.postEphemeral');
    expect(whispers.at(-1)!.args).toMatchObject({ channel: 'C00FAKECHAN1', user: 'U0STRANGER', thread_ts: threadTs, text: 'Only the people in this conversation, or an admin, can reset it.' });
    expect(slack.calls('chat.postMessage').length).toBe(before);
    expect(await app.engine.hasConversation(`slack:T00FAKE00AA:C00FAKECHAN1:${threadTs}`)).toBe(true);
  });

  it('ignores thread messages in threads it is not part of, its own messages, other bots and edits', async () => {
    const before = ds.messageCreates().length;
    const base = slackJson.followUp;
    const variants = [
      { ...base.event, ts: '1767224999.000001', thread_ts: '1767224000.000001' },
      { ...base.event, ts: '1767224999.000002', user: 'U00FAKEBOT01' },
      { ...base.event, ts: '1767224999.000003', bot_id: 'B0OTHER', user: 'U0OTHERBOT' },
      { type: 'message', subtype: 'message_changed', channel: 'C00FAKECHAN1', ts: '1767224999.000004', message: { text: '<@U00FAKEBOT01> edited' } },
      { type: 'message', subtype: 'message_deleted', channel: 'C00FAKECHAN1', ts: '1767224999.000005' },
    ];
    for (const [i, event] of variants.entries()) expect((await postSlack(app.url, { ...base, event_id: `Ev-ignore-${i}`, event })).status).toBe(200);
    await app.slack!.idle();
    expect(ds.messageCreates().length).toBe(before);
  });

  it('gives one reply for Slack retries and for the message + app_mention pair of the same message', async () => {
    const ts = '1771287144.743569';
    const appMention = channelSlack.mention; // app_mention
    const asMessage = { ...appMention, event: { ...appMention.event, type: 'message', channel_type: 'channel' } };
    const runs = ds.runCreates().length;
    await Promise.all([postSlack(app.url, appMention), postSlack(app.url, asMessage), postSlack(app.url, appMention, { retryNum: 1 }), postSlack(app.url, appMention, { retryNum: 2 })]);
    await app.slack!.idle();
    expect(ds.runCreates().length - runs).toBe(1);
    expect(slack.repliesIn('C00FAKECHAN1', ts)).toHaveLength(1);
  });

  it('answers a DM at its top level (recorded DM payload)', async () => {
    await postSlack(app.url, dmSlack.dmMessage);
    await app.slack!.idle();
    const replies = slack.repliesIn('D0A5319PS02');
    expect(replies).toHaveLength(1);
    expect(replies[0].method).toBe('chat.postMessage');
    expect(visibleText('D0A5319PS02')).toBe('You said: Hey!');
    expect(ds.messageCreates().at(-1)!.body.content).toBe('Hey!'); // no speaker prefix in a DM
  });

  it('answers a reply inside a DM thread in that thread, as its own conversation', async () => {
    const threaded = { ...dmSlack.dmMessage, event: { ...dmSlack.dmMessage.event, ts: '1767377100.000001', thread_ts: '1767377001.319859', text: 'in a thread' } };
    const threadsBefore = ds.threads.size;
    await postSlack(app.url, threaded);
    await app.slack!.idle();
    expect(ds.threads.size).toBe(threadsBefore + 1);
    expect(slack.repliesIn('D0A5319PS02', '1767377001.319859')).toHaveLength(1);
  });
});

describe('replies', () => {
  it('uploads a generated image into the right thread with its bytes (three calls)', async () => {
    ds.model = () => ({ text: `Here you go ![a red fox](${images.url}/gen/fox/cat.png)` });
    const ev = { ...slackJson.mention, event: { ...slackJson.mention.event, ts: '1767300000.000001', text: '<@U00FAKEBOT01> draw a fox' } };
    await postSlack(app.url, ev);
    await app.slack!.idle();
    const seq = slack.log.calls.filter((c) => ['files.getUploadURLExternal', 'upload', 'files.completeUploadExternal'].includes(c.method)).map((c) => c.method);
    expect(seq).toEqual(['files.getUploadURLExternal', 'upload', 'files.completeUploadExternal']);
    const complete = slack.calls('files.completeUploadExternal')[0];
    expect(complete.args).toMatchObject({ channel_id: 'C00FAKECHAN1', thread_ts: '1767300000.000001' });
    const fileId = complete.args.files[0].id;
    expect(slack.uploads.get(fileId)!.bytes.equals(PNG)).toBe(true);
    expect(slack.calls('files.getUploadURLExternal')[0].args).toMatchObject({ filename: 'cat.png', alt_text: 'a red fox' });
    // the streamed text showed the raw link: the message is rewritten with the caption
    expect(slack.calls('chat.update').at(-1)!.text).toBe('Here you go _(image: a red fox)_');
    // uploaded: the image's bytes are no longer held
    expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/^threadline_image_bytes_held 0$/m);
  });

  it('falls back to post + chat.update when chat.startStream answers unknown_method', async () => {
    slack.streaming = false;
    ds.model = () => ({ text: ['**Bold** start, ', 'then [a link](https://example.com) ', 'and the end.'], delayMs: 30 });
    const ev = { ...slackJson.mention, event: { ...slackJson.mention.event, ts: '1767300000.000002', team: 'T00FAKE00AA' } };
    await postSlack(app.url, ev);
    await app.slack!.idle();
    // the stream was refused (it made no message), so the reply is one message, posted and edited
    expect(slack.calls('chat.startStream').filter((c) => c.args.thread_ts === '1767300000.000002' && c.result?.error === 'unknown_method')).toHaveLength(1);
    const posts = slack.repliesIn('C00FAKECHAN1', '1767300000.000002');
    expect(posts.map((p) => p.method)).toEqual(['chat.postMessage']);
    const finalText =
      slack
        .calls('chat.update')
        .filter((u) => u.args.ts !== undefined)
        .at(-1)?.text ?? posts[0].text;
    // markdown_text: Slack renders the Markdown itself
    expect(finalText).toBe('**Bold** start, then [a link](https://example.com) and the end.');
    expect(posts[0].args.markdown_text).toBeDefined();
  });

  it('shows a failed turn as a short message in the thread', async () => {
    ds.model = () => ({ fail: { code: 'server_error', message: 'boom' } });
    const ev = { ...slackJson.mention, event: { ...slackJson.mention.event, ts: '1767300000.000003' } };
    await postSlack(app.url, ev);
    await app.slack!.idle();
    const last = slack.repliesIn('C00FAKECHAN1', '1767300000.000003').at(-1)!;
    expect(last.text).toMatch(/^:warning: Something went wrong/);
    expect(JSON.stringify(last.args)).not.toMatch(/boom|sk-/);
  });

  it('shows code interpreter steps as code blocks', async () => {
    ds.model = () => ({ codeInterpreter: { input: 'print(2**10)', output: '1024' }, text: '2^10 is 1024.' });
    const ev = { ...slackJson.mention, event: { ...slackJson.mention.event, ts: '1767300000.000004' } };
    await postSlack(app.url, ev);
    await app.slack!.idle();
    const code = slack.repliesIn('C00FAKECHAN1', '1767300000.000004').find((c) => String(c.text).startsWith('**Code run**'));
    expect(code?.text).toContain('```\nprint(2**10)\n```');
    expect(code?.text).toContain('1024');
  });
});

describe("Slack's AI app surface", () => {
  it('greets a new assistant thread with suggested prompts, then shows progress as the assistant status', async () => {
    const started = {
      token: 'x',
      team_id: 'T00FAKE00AA',
      api_app_id: 'A00FAKEAPP01',
      type: 'event_callback',
      event_id: 'EvAI1',
      event_time: 1,
      event: { type: 'assistant_thread_started', assistant_thread: { user_id: 'U00FAKEUSER1', context: {}, channel_id: 'D0AIAPP001', thread_ts: '1767400000.000100' }, event_ts: '1767400000.000200' },
    };
    await postSlack(app.url, started);
    await app.slack!.idle();
    const prompts = slack.calls('assistant.threads.setSuggestedPrompts')[0];
    expect(prompts.args).toMatchObject({ channel_id: 'D0AIAPP001', thread_ts: '1767400000.000100' });
    expect(prompts.args.prompts.length).toBeGreaterThan(0);
    const dmInThread = {
      ...dmSlack.dmMessage,
      event_id: 'EvAI2',
      event: { ...dmSlack.dmMessage.event, channel: 'D0AIAPP001', ts: '1767400001.000100', thread_ts: '1767400000.000100', text: 'hello assistant' },
    };
    await postSlack(app.url, dmInThread);
    await app.slack!.idle();
    const statuses = slack.calls('assistant.threads.setStatus').filter((c) => c.args.channel_id === 'D0AIAPP001');
    expect(statuses[0].args.status).toBe('is thinking…');
    expect(statuses.at(-1)!.args.status).toBe(''); // cleared when the answer is in
    expect(slack.calls('reactions.add').some((c) => c.args.channel === 'D0AIAPP001')).toBe(false);
    expect(ds.runCreates().at(-1)!.body.additional_instructions).toBeUndefined(); // the container reported no channel
  });

  it('tells the model which channel the person is looking at, and follows them when it changes', async () => {
    const thread = '1767400002.000100';
    const aiEvent = (type: string, id: string, channel: string) => ({
      token: 'x',
      team_id: 'T00FAKE00AA',
      api_app_id: 'A00FAKEAPP01',
      type: 'event_callback',
      event_id: id,
      event_time: 1,
      event: {
        type,
        assistant_thread: { user_id: 'U00FAKEUSER1', context: { channel_id: channel, team_id: 'T00FAKE00AA', enterprise_id: null }, channel_id: 'D0AIAPP001', thread_ts: thread },
        event_ts: '1767400002.000200',
      },
    });
    const ask = (id: string, ts: string, text: string) => ({ ...dmSlack.dmMessage, event_id: id, event: { ...dmSlack.dmMessage.event, channel: 'D0AIAPP001', ts, thread_ts: thread, text } });
    await postSlack(app.url, aiEvent('assistant_thread_started', 'EvAI3', 'C00FAKECHAN1'));
    await app.slack!.idle(); // events are handled after their ack: let this one land before the question
    await postSlack(app.url, ask('EvAI4', '1767400003.000100', 'what is this channel about?'));
    await app.slack!.idle();
    expect(ds.runCreates().at(-1)!.body.additional_instructions).toContain('looking at the channel <#C00FAKECHAN1>');
    await postSlack(app.url, aiEvent('assistant_thread_context_changed', 'EvAI5', 'C00FAKECHAN2'));
    await app.slack!.idle();
    await postSlack(app.url, ask('EvAI6', '1767400004.000100', 'and this one?'));
    await app.slack!.idle();
    expect(ds.runCreates().at(-1)!.body.additional_instructions).toContain('<#C00FAKECHAN2>');
    expect(ds.messageCreates().at(-1)!.body.content).toBe('and this one?');
  });
});

describe('long replies', () => {
  // T00FAKE00AA lost chat.startStream in the fallback test above (posted and edited); T0STREAM01 streams.
  it.each([
    ['T0STREAM01', '1767300000.000011', 'chat.startStream'],
    ['T00FAKE00AA', '1767300000.000010', 'chat.postMessage'],
  ])('a reply longer than one Slack message continues in a new message (team %s)', async (team, ts, method) => {
    const long = Array.from({ length: 450 }, (_, i) => `Sentence number ${i} of a long answer.`).join(' ');
    ds.model = () => ({ text: long.match(/[\s\S]{1,1200}/g)!, delayMs: 5 });
    const ev = { ...slackJson.mention, team_id: team, event: { ...slackJson.mention.event, ts } };
    await postSlack(app.url, ev);
    await app.slack!.idle();
    const messages = slack.calls(method).filter((c) => c.args.thread_ts === ts);
    expect(messages.length).toBeGreaterThanOrEqual(2);
    // markdown_text takes 12,000 characters a message, streamed or posted
    for (const m of messages) expect(String(m.args.markdown_text ?? m.text).length).toBeLessThanOrEqual(12_000);
    expect(visibleText('C00FAKECHAN1', ts).replace(/\s+/g, ' ')).toBe(long);
  });

  it('a code block cut by the roll-over is closed in one streamed message and reopened, with its language, in the next', async () => {
    const code = Array.from({ length: 500 }, (_, i) => `print('line ${i} of the program')`);
    const answer = `Here is the program:\n\n\`\`\`python\n${code.join('\n')}\n\`\`\`\n\nThat is all.`;
    ds.model = () => ({ text: answer.match(/[\s\S]{1,1200}/g)!, delayMs: 2 });
    const ts = '1767300000.000012';
    await postSlack(app.url, { ...slackJson.mention, team_id: 'T0STREAM01', event: { ...slackJson.mention.event, ts } });
    await app.slack!.idle();
    const messages = visibleMessages('C00FAKECHAN1', ts);
    expect(messages.length).toBeGreaterThanOrEqual(2);
    for (const m of messages) {
      expect(m.length).toBeLessThanOrEqual(12_000);
      expect(openFenceAtEnd(m)).toBeUndefined();
    }
    for (const m of messages.slice(1)) expect(m.startsWith('```python\n') || !m.includes('print(')).toBe(true);
    expect(
      messages
        .join('\n')
        .split('\n')
        .filter((l) => l.startsWith('print(')),
    ).toEqual(code);
    expect(messages.at(-1)).toMatch(/That is all\.$/);
  });
});

describe('long code output', () => {
  it('uploads code interpreter output over 2,500 characters as a file', async () => {
    const output = 'x'.repeat(3_000);
    ds.model = () => ({ codeInterpreter: { input: 'print("x" * 3000)', output }, text: 'Done.' });
    const ev = { ...slackJson.mention, event: { ...slackJson.mention.event, ts: '1767300000.000009' } };
    await postSlack(app.url, ev);
    await app.slack!.idle();
    const upload = slack.calls('files.getUploadURLExternal').find((c) => c.args.filename === 'output.txt')!;
    expect(upload).toBeTruthy();
    const complete = slack.calls('files.completeUploadExternal').find((c) => c.args.thread_ts === '1767300000.000009')!;
    expect(slack.uploads.get(complete.args.files[0].id)!.bytes.toString()).toBe(output);
  });
});

describe('commands', () => {
  it('answers /assistant help (recorded slash command body) and the same word after a mention', async () => {
    const body = { ...slash.slashCommand, command: '/assistant', text: 'help', team_id: 'T00FAKE00AA' };
    const res = await postSlack(app.url, body, { form: true });
    expect(res.status).toBe(200);
    await app.slack!.idle();
    const help = slack
      .calls('chat.postMessage')
      .filter((c) => c.args.channel === 'C00FAKECHAN3')
      .at(-1)!;
    expect(help.text).toMatch(/Commands/);
    const mention = { ...slackJson.mention, event: { ...slackJson.mention.event, ts: '1767300000.000005', text: '<@U00FAKEBOT01> help' } };
    const runs = ds.runCreates().length;
    await postSlack(app.url, mention);
    await app.slack!.idle();
    expect(slack.repliesIn('C00FAKECHAN1', '1767300000.000005')[0].text).toMatch(/Commands/);
    expect(ds.runCreates().length).toBe(runs);
  });

  it('/assistant <question> posts the question and answers in its thread', async () => {
    // (both recorded commands share a trigger_id; a real one is unique per invocation)
    const body = { ...slash.slashCommandWithArgs, command: '/assistant', text: 'what is DashScope?', team_id: 'T00FAKE00AA', trigger_id: '10520020890661.10229338706656.question' };
    await postSlack(app.url, body, { form: true });
    await app.slack!.idle();
    const question = slack.calls('chat.postMessage').find((c) => String(c.text).includes('asked:'))!;
    expect(question.args.channel).toBe('C00FAKECHAN3');
    // the reply goes into the thread under the posted question (streamed, or posted where streaming was found missing)
    const replies = slack.log.calls.filter((c) => ['chat.startStream', 'chat.postMessage'].includes(c.method) && c.args.channel === 'C00FAKECHAN3' && c.args.thread_ts);
    expect(replies).toHaveLength(1);
    expect(replies[0].args.thread_ts).toBe(question.result.ts);
    expect(ds.messageCreates().at(-1)!.body.content).toBe('user-U00FAKEUSER2: what is DashScope?');
  });
});
