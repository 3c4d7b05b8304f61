import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDiscord } from '../fakes/discord.js';
import { FakeImageHost, PNG } from '../fakes/image-server.js';
import { FakeResponses } from '../fakes/responses.js';
import { FakeSlack } from '../fakes/slack.js';
import { SIGNING_SECRET, boot, fixture, postSlack, discordDm } from '../app-harness.js';

/** DASHSCOPE_API=responses: the same product on Slack and Discord, with no call to the Assistant API. */
const slackJson = fixture('slack.json');

let rs: FakeResponses;
let slack: FakeSlack;
let discord: FakeDiscord;
let images: FakeImageHost;
let app: Threadline;
let n = 0;

function mention(text: string) {
  const ts = `17674${String(++n).padStart(5, '0')}.000100`;
  return { ...slackJson.mention, event_id: `EvR${n}`, event: { ...slackJson.mention.event, ts, event_ts: ts, text: `<@U00FAKEBOT01> ${text}` } };
}
function followUp(threadTs: string, text: string) {
  const ts = `17675${String(++n).padStart(5, '0')}.000100`;
  return { ...slackJson.followUp, event_id: `EvRF${n}`, event: { ...slackJson.followUp.event, ts, event_ts: ts, thread_ts: threadTs, text } };
}
function dmToBot(text: string) {
  return discordDm(discord.nextId(), '1460000000000077001', text);
}
/** What the person sees in a Slack thread (streams and posts). */
const visible = (threadTs: string) => slack.visible(slackJson.mention.event.channel, threadTs).join('\n');

beforeAll(async () => {
  [rs, slack, discord, images] = await Promise.all([new FakeResponses().start(), new FakeSlack().start(), new FakeDiscord().start(), new FakeImageHost().start()]);
  rs.imageBase = images.url;
  slack.users.U00FAKEUSER1 = { name: 'Ada Lovelace' };
  app = await boot(
    {
      DASHSCOPE_API: 'responses',
      DASHSCOPE_API_KEY: rs.apiKey,
      DASHSCOPE_BASE_URL: rs.baseUrl,
      ASSISTANT_TOOLS: 'text_to_image,code_interpreter,web_search',
      IMAGE_HOSTS: images.host,
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      DISCORD_TOKEN: discord.token,
      DISCORD_API_URL: discord.apiBase,
      DISCORD_GUILD_ID: discord.guildId,
    },
    { testing: { slackRateLimits: 'unlimited', imagePollMs: 5, responsesRetries: 1, webApiRetries: 0, editIntervalMs: 20, socketPingTimeoutMs: 300, discordRestRetries: 0, discordTypingEveryMs: 50 } },
  );
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([rs.stop(), slack.stop(), discord.stop(), images.stop()]);
});
beforeEach(() => {
  rs.model = ({ newUserMessages }) => ({ text: ['You said: ', newUserMessages.join(' | ')] });
});

describe('a Slack thread on the Responses API', () => {
  it('answers in the thread, chains the follow-up on previous_response_id, and never calls the Assistant API', async () => {
    const ev = mention('hello responses');
    await postSlack(app.url, ev);
    await app.slack!.idle();
    expect(visible(ev.event.ts)).toBe('You said: Ada Lovelace: hello responses');
    const first = rs.creates().at(-1)!;
    expect(first.path).toBe('/compatible-mode/v1/responses');
    expect(first.body).toMatchObject({ model: 'qwen-plus', stream: true, store: true });
    expect(first.body.previous_response_id).toBeUndefined();
    expect(first.body.tools).toEqual(
      expect.arrayContaining([
        { type: 'code_interpreter' },
        { type: 'web_search' },
        expect.objectContaining({ type: 'function', name: 'text_to_image' }),
        expect.objectContaining({ type: 'function', name: 'get_current_time' }),
      ]),
    );

    rs.model = ({ context, newUserMessages }) => ({ text: `seen ${context.filter((i) => i.role === 'user').length}: ${newUserMessages.join()}` });
    await postSlack(app.url, followUp(ev.event.ts, 'and again'));
    await app.slack!.idle();
    const second = rs.creates().at(-1)!;
    expect(second.body.previous_response_id).toMatch(/^resp_/);
    expect(second.body.input).toHaveLength(1); // only what is new: the server holds the rest
    expect(visible(ev.event.ts)).toContain('seen 2: Ada Lovelace: and again');
    expect(rs.log.filter((c) => /\/api\/v1\/(assistants|threads)/.test(c.path))).toHaveLength(0);
  });

  it('replays the stored history when the server forgot the conversation (400 Not found previous_response_id), and answers anyway', async () => {
    const ev = mention('remember the word kiwi');
    await postSlack(app.url, ev);
    await app.slack!.idle();
    rs.forget();
    rs.model = ({ context }) => ({
      text: `I remember: ${context
        .filter((i) => i.role === 'user')
        .map((i) => i.content[0].text)
        .join(' / ')}`,
    });
    await postSlack(app.url, followUp(ev.event.ts, 'what was the word?'));
    await app.slack!.idle();
    const [refused, replayed] = rs.creates().slice(-2);
    expect(refused.body.previous_response_id).toMatch(/^resp_/);
    expect(replayed.body.previous_response_id).toBeUndefined();
    expect(replayed.body.input.length).toBeGreaterThanOrEqual(3); // question, answer, new question
    expect(visible(ev.event.ts)).toContain('I remember: Ada Lovelace: remember the word kiwi / Ada Lovelace: what was the word?');
  });

  it('text_to_image: image synthesis (async task, polled) → the image uploaded into the thread with its bytes', async () => {
    rs.model = ({ toolOutputs }) => (toolOutputs.length ? { text: 'Here is your fox.' } : { functionCalls: [{ name: 'text_to_image', arguments: { prompt: 'a red fox in snow' } }] });
    const ev = mention('draw a fox');
    await postSlack(app.url, ev);
    await app.slack!.idle();
    const synth = rs.log.filter((c) => c.path === '/api/v1/services/aigc/text2image/image-synthesis').at(-1)!;
    expect(synth.headers['x-dashscope-async']).toBe('enable');
    expect(synth.body).toMatchObject({ model: 'wan2.5-t2i-preview', input: { prompt: 'a red fox in snow' } });
    expect(rs.log.filter((c) => c.path.startsWith('/api/v1/tasks/')).length).toBeGreaterThanOrEqual(2);
    const complete = slack.calls('files.completeUploadExternal').at(-1)!;
    expect(complete.args.thread_ts).toBe(ev.event.ts);
    const fileId = complete.args.files[0].id;
    expect(slack.uploads.get(fileId)!.bytes.equals(PNG)).toBe(true);
    expect(visible(ev.event.ts)).toContain('Here is your fox.');
    // the tool output went back as a function_call_output chained on the response that asked for it
    const submit = rs.creates().at(-1)!;
    expect(submit.body.previous_response_id).toMatch(/^resp_/);
    expect(submit.body.input).toEqual([expect.objectContaining({ type: 'function_call_output' })]);
  });

  it('shows a code interpreter step as a task in the streamed reply (agent_view)', async () => {
    rs.model = () => ({ codeInterpreter: { code: 'print(6*7)', output: '42' }, text: 'It is 42.' });
    const ev = mention('compute 6*7');
    await postSlack(app.url, ev);
    await app.slack!.idle();
    const start = slack.calls('chat.startStream').find((c) => c.args.thread_ts === ev.event.ts)!;
    const chunks = [start, ...slack.calls('chat.appendStream').filter((c) => c.args.ts === start.result.ts)].flatMap((c) => c.args.chunks ?? []);
    expect(chunks.at(-1)).toMatchObject({ type: 'task_update', status: 'complete', details: 'print(6*7)', output: '42' });
    expect(chunks[0]).toMatchObject({ type: 'task_update', status: 'in_progress', title: 'Running Python code' });
    expect(visible(ev.event.ts)).toBe('It is 42.');
  });

  it('HTTP 200 then response.failed is a failure with a short message; a 429 is retried', async () => {
    rs.model = () => ({ fail: { code: 'InvalidParameter', message: 'Unsupported model' } });
    const ev = mention('fail please');
    await postSlack(app.url, ev);
    await app.slack!.idle();
    expect(visible(ev.event.ts)).toMatch(/Something went wrong while answering/);
    expect(visible(ev.event.ts)).not.toMatch(/Unsupported model/);

    rs.model = ({ newUserMessages }) => ({ text: `ok: ${newUserMessages.join()}` });
    rs.throttle = 1;
    const again = mention('after a 429');
    await postSlack(app.url, again);
    await app.slack!.idle();
    expect(visible(again.event.ts)).toBe('ok: Ada Lovelace: after a 429');
    rs.throttle = 5; // more than the client retries
    const throttled = mention('throttled');
    await postSlack(app.url, throttled);
    await app.slack!.idle();
    expect(visible(throttled.event.ts)).toMatch(/too many requests/);
    rs.throttle = 0;
  });

  it('stop aborts the stream, the thread says it stopped, and the next turn starts after it', async () => {
    let release!: () => void;
    rs.model = () => ({ text: ['partial answer', ' never sent'], holdAfterFirstDelta: new Promise<void>((r) => (release = r)) });
    const ev = mention('a long one');
    await postSlack(app.url, ev);
    await slack.log.waitFor((c) => c.method === 'chat.startStream' && c.args.thread_ts === ev.event.ts);
    const aborted = rs.aborted;
    await postSlack(app.url, followUp(ev.event.ts, `<@${slack.botUserId}> stop`));
    await app.slack!.idle();
    release();
    expect(rs.aborted).toBe(aborted + 1);
    expect(visible(ev.event.ts)).toMatch(/partial answer[\s\S]*_\(stopped\)_/);
    expect(visible(ev.event.ts)).not.toContain('never sent');
  });
});

describe('meeting minutes on the Responses API', () => {
  it('captures the channel, then writes the minutes in one turn with no tools and posts them', async () => {
    const slash = fixture('slash-commands-slack.json').slashCommand;
    const CHANNEL = 'C00RESPMEET';
    const command = (text: string) => ({ ...slash, command: '/assistant', text, team_id: 'T00FAKE00AA', channel_id: CHANNEL, user_id: 'U00FAKEUSER1', trigger_id: `trigger-r-${++n}` });
    const say = (text: string) => {
      const t = `17676${String(++n).padStart(5, '0')}.000100`;
      return { ...slackJson.followUp, event_id: `EvRM${n}`, event: { type: 'message', user: 'U00FAKEUSER1', text, ts: t, channel: CHANNEL, event_ts: t, channel_type: 'channel' } };
    };
    await postSlack(app.url, command('notes start Launch review'), { form: true });
    await slack.log.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === CHANNEL && /Taking notes/.test(String(c.text)));
    for (const line of ['We launch on Monday', 'Grace owns the checklist']) expect((await postSlack(app.url, say(line))).status).toBe(200);
    await app.slack!.idle();
    rs.model = ({ context, body }) => ({
      text: `## Decisions\n- ${context.flatMap((i) => (i.content ?? []).map((c: { text?: string }) => c.text ?? '')).join(' / ')}${body.tools ? ' (tools!)' : ''}`,
    });
    await postSlack(app.url, command('notes stop'), { form: true });
    await app.slack!.idle();
    const req = rs.creates().at(-1)!;
    expect(req.body.tools).toBeUndefined();
    expect(req.body.instructions).toMatch(/minutes/i);
    const minutes = slack
      .calls('chat.postMessage')
      .filter((c) => c.args.channel === CHANNEL)
      .map((c) => String(c.text))
      .find((t) => t.startsWith('# Minutes: Launch review'));
    expect(minutes).toMatch(/We launch on Monday/);
    expect(minutes).toMatch(/Grace owns the checklist/);
    expect(minutes).not.toMatch(/tools!/);
  });
});

describe('a Discord DM on the Responses API', () => {
  it('answers in the DM', async () => {
    const msg = dmToBot('hi from discord');
    discord.dispatch('MESSAGE_CREATE', msg);
    await discord.rest.waitFor((c) => c.route === `/channels/${msg.channel_id}/messages` && c.method === 'POST');
    await app.discord!.idle();
    expect(discord.visible(msg.channel_id)).toEqual(['You said: hi from discord']);
    expect(rs.creates().at(-1)!.body.input[0]).toMatchObject({ role: 'user', content: [{ type: 'input_text', text: 'hi from discord' }] });
  });
});
