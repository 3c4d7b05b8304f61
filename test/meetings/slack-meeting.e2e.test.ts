import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { boot, fixture, postSlack, fakeEnv } from '../app-harness.js';
import { meetingRuns, minutesModel } from './harness.js';
import { REDIS_URL, uniquePrefix } from '../helpers.js';

const slackJson = fixture('slack.json');
const slash = fixture('slash-commands-slack.json');
const CHANNEL = 'C00FAKECHAN9';

let ds: FakeDashScope;
let slack: FakeSlack;
let app: Threadline;
let ts = 1_790_000_000;
const prefix = uniquePrefix('meeting');

function env(extra: Record<string, string> = {}) {
  return { ...fakeEnv({ ds, slack }), REDIS_URL, REDIS_PREFIX: prefix, MEETING_BATCH: '20ms', ...extra };
}

/** A person's message in the meeting channel, shaped like the recorded Slack message events. */
function say(user: string, text: string, threadTs?: string) {
  const t = `${++ts}.000100`;
  return {
    ...slackJson.followUp,
    event_id: `Ev${t}`,
    event: { type: 'message', user, text, ts: t, channel: CHANNEL, event_ts: t, channel_type: 'channel', ...(threadTs ? { thread_ts: threadTs } : {}) },
  };
}

function command(text: string, user = 'U00FAKEUSER1') {
  return { ...slash.slashCommand, command: '/assistant', text, team_id: 'T00FAKE00AA', channel_id: CHANNEL, user_id: user, trigger_id: `trigger-${++ts}` };
}

beforeAll(async () => {
  ds = await new FakeDashScope().start();
  slack = await new FakeSlack().start();
  slack.users = { U00FAKEUSER1: { name: 'Ada' }, U00FAKEUSER2: { name: 'Grace' }, U00FAKEUSER3: { name: 'Linus' } };
  minutesModel(ds);
  app = await boot(env());
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([ds.stop(), slack.stop()]);
});

describe('a meeting in a Slack channel', () => {
  let meetingThread: string;

  it('starts with /assistant notes start and announces who started it, how to stop and how to opt out', async () => {
    await postSlack(app.url, command('notes start Weekly sync'), { form: true });
    await app.slack!.idle();
    const announce = slack
      .calls('chat.postMessage')
      .filter((c) => c.args.channel === CHANNEL)
      .at(-1)!;
    expect(announce.text).toMatch(/Taking notes for \*\*Weekly sync\*\*, started by Ada/);
    expect(announce.text).toMatch(/!off/);
    expect(announce.text).toMatch(/notes stop/);
    meetingThread = [...ds.threads.values()].find((t) => t.metadata?.conversation === `meeting:slack:T00FAKE00AA:${CHANNEL}`)!.id;
    expect(meetingThread).toMatch(/^thread_/);
  });

  it('captures every human message in order with speakers, thread replies too, skips !off, and runs nothing', async () => {
    const first = say('U00FAKEUSER1', 'Let us ship on Friday');
    await postSlack(app.url, first);
    await postSlack(app.url, say('U00FAKEUSER2', 'I will write the release notes by Thursday'));
    await postSlack(app.url, say('U00FAKEUSER3', '!off lunch anyone?'));
    await postSlack(app.url, say('U00FAKEUSER3', 'Agreed, Friday it is', first.event.ts));
    await postSlack(app.url, { ...say('U00FAKEUSER1', 'edited'), event: { ...say('U00FAKEUSER1', 'x').event, subtype: 'message_changed' } });
    await app.slack!.idle();
    await app.meetings.flushAll();
    const created = ds
      .messageCreates(meetingThread)
      .map((c) => c.body.content as string)
      .join('\n')
      .split('\n');
    expect(created.map((l) => l.replace(/^\[\d\d:\d\d\] /, ''))).toEqual(['Ada: Let us ship on Friday', 'Grace: I will write the release notes by Thursday', 'Linus: Agreed, Friday it is']);
    expect(created[0]).toMatch(/^\[\d\d:\d\d\] /);
    expect(ds.runCreates()).toHaveLength(0);
  });

  it('notes status says since when, by whom and how many lines', async () => {
    await postSlack(app.url, command('notes status'), { form: true });
    await app.slack!.idle();
    const status = slack
      .calls('chat.postMessage')
      .filter((c) => c.args.channel === CHANNEL)
      .at(-1)!;
    expect(status.text).toMatch(/since \d\d:\d\d UTC .*started by Ada: 3 lines captured/);
  });

  it('a mention during the meeting gets its answer in its own thread and is captured too', async () => {
    const mention = say('U00FAKEUSER2', '<@U00FAKEBOT01> what day did we pick?');
    await postSlack(app.url, mention);
    await app.slack!.idle();
    await app.meetings.flushAll();
    expect(slack.repliesIn(CHANNEL, mention.event.ts)).toHaveLength(1);
    const lines = ds
      .messageCreates(meetingThread)
      .map((c) => c.body.content as string)
      .join('\n');
    expect(lines).toMatch(/Grace: what day did we pick\?/);
  });

  it('a file shared during the meeting is named in the notes, never read (issue 18)', async () => {
    const file = slack.shareFile('budget.xlsx', Buffer.from('PK…'), 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    const shared = say('U00FAKEUSER3', 'here is the budget');
    await postSlack(app.url, { ...shared, event: { ...shared.event, subtype: 'file_share', files: [file] } });
    await app.slack!.idle();
    await app.meetings.flushAll();
    const lines = ds
      .messageCreates(meetingThread)
      .map((c) => c.body.content as string)
      .join('\n');
    expect(lines).toMatch(/Linus: here is the budget \[shared budget\.xlsx\]/);
    expect(slack.log.filter((c) => c.method === 'file_download')).toHaveLength(0); // names and links, not contents
  });

  it('only the starter or an admin may stop it', async () => {
    await postSlack(app.url, command('notes stop', 'U00FAKEUSER3'), { form: true });
    await app.slack!.idle();
    // told to the person alone (ephemeral), not to the channel
    const refusal = slack
      .calls('chat.postEphemeral')
      .filter((c) => c.args.channel === CHANNEL)
      .at(-1)!;
    expect(refusal.args.user).toBe('U00FAKEUSER3');
    expect(refusal.args.text).toMatch(/Only Ada/);
    expect(meetingRuns(ds, 'minutes')).toHaveLength(0);
  });

  it('notes stop runs the assistant once and posts the minutes in the channel, attached as Markdown', async () => {
    const runsBefore = ds.runCreates().length;
    await postSlack(app.url, command('notes stop'), { form: true });
    await app.slack!.idle();
    expect(ds.runCreates().length - runsBefore).toBe(1);
    const run = meetingRuns(ds, 'minutes')[0];
    expect(run.path).toBe(`/threads/${meetingThread}/runs`);
    expect(run.body.tools).toBeUndefined(); // not `tools: []`: on a run that is not documented to mean "no tools" (issue 13)
    const posted = slack
      .calls('chat.postMessage')
      .filter((c) => c.args.channel === CHANNEL && !c.args.thread_ts)
      .map((c) => String(c.text));
    const minutes = posted.find((t) => t.startsWith('# Minutes: Weekly sync'))!;
    expect(minutes).toMatch(/Ada: Let us ship on Friday/);
    expect(minutes).toMatch(/^## Action items$/m);
    expect(minutes).toMatch(/^## Files shared\n- budget\.xlsx \(Linus, <http:\/\/127\.0\.0\.1:\d+\/files-pri\/T00FAKE00AA-F0FAKEFILE1\/download\/budget\.xlsx>\)$/m);
    const upload = slack.calls('files.getUploadURLExternal').at(-1)!;
    expect(upload.args.filename).toMatch(/^minutes-.*\.md$/);
    const complete = slack.calls('files.completeUploadExternal').at(-1)!;
    expect(complete.args.channel_id).toBe(CHANNEL);
    const file = slack.uploads.get(complete.args.files[0].id)!.bytes.toString('utf8');
    expect(file).toMatch(/^# Minutes: Weekly sync/);
    expect(file).toMatch(/Grace: I will write the release notes by Thursday/);
    // capture has ended
    const after = ds.messageCreates().length;
    await postSlack(app.url, say('U00FAKEUSER1', 'after the meeting'));
    await app.slack!.idle();
    await app.meetings.flushAll();
    expect(ds.messageCreates().length).toBe(after);
  });
});

describe('a long meeting', () => {
  it('checkpoints 500 lines with a small budget, and the minutes cover the start of the meeting', async () => {
    const channelKey = `slack:T00FAKE00AA:${CHANNEL}`;
    await postSlack(app.url, command('notes start Marathon'), { form: true });
    await app.slack!.idle();
    const small = await boot(env({ MEETING_CHECKPOINT_CHARS: '2000', SLACK_API_URL: slack.apiUrl }));
    try {
      // the second instance (same Redis) shares the meeting; it has the small budget
      for (let i = 0; i < 500; i++) await postSlack(small.url, say(i % 2 ? 'U00FAKEUSER2' : 'U00FAKEUSER1', `point number ${i} about the roadmap`));
      await small.slack!.idle();
      await small.meetings.flushAll();
      expect(meetingRuns(ds, 'checkpoint').length).toBeGreaterThanOrEqual(5);
      await postSlack(small.url, command('notes stop'), { form: true });
      await small.slack!.idle();
      // the minutes as attached (the posted text may span several messages)
      const complete = slack.calls('files.completeUploadExternal').at(-1)!;
      const minutes = slack.uploads.get(complete.args.files[0].id)!.bytes.toString();
      expect(minutes).toMatch(/^# Minutes: Marathon/);
      expect(minutes).toMatch(/point number 0 about the roadmap/);
      expect(minutes).toMatch(/point number 499 about the roadmap/);
      expect(slack.calls('chat.postMessage').some((c) => String(c.text).startsWith('# Minutes: Marathon'))).toBe(true);
      expect(await small.meetings.get(channelKey)).toBeUndefined();
    } finally {
      await small.stop(1_000);
    }
  });
});

describe('meetings that end by themselves', () => {
  it('stops after 30 minutes of inactivity and after the maximum duration, posting minutes each time', async () => {
    await postSlack(app.url, command('notes start Quiet one'), { form: true });
    await app.slack!.idle();
    await postSlack(app.url, say('U00FAKEUSER1', 'only line'));
    await app.slack!.idle();
    await app.meetings.sweep(Date.now() + 29 * 60_000);
    expect(await app.meetings.isActive(`slack:T00FAKE00AA:${CHANNEL}`)).toBe(true);
    await app.meetings.sweep(Date.now() + 31 * 60_000);
    expect(await app.meetings.isActive(`slack:T00FAKE00AA:${CHANNEL}`)).toBe(false);
    const texts = slack
      .calls('chat.postMessage')
      .filter((c) => c.args.channel === CHANNEL && !c.args.thread_ts)
      .map((c) => String(c.text));
    expect(texts.some((t) => /stopped after 30 minutes without messages/.test(t))).toBe(true);
    expect(texts.at(-1)).toMatch(/^# Minutes: Quiet one[\s\S]*Ada: only line/);

    await postSlack(app.url, command('notes start Endless'), { form: true });
    await app.slack!.idle();
    await postSlack(app.url, say('U00FAKEUSER1', 'still talking'));
    await app.slack!.idle();
    // lines keep coming, but four hours is the limit
    await app.meetings.sweep(Date.now() + 4 * 3_600_000);
    const last = slack
      .calls('chat.postMessage')
      .filter((c) => c.args.channel === CHANNEL && !c.args.thread_ts)
      .map((c) => String(c.text));
    expect(last.some((t) => /reached the maximum meeting length/.test(t))).toBe(true);
  });
});
