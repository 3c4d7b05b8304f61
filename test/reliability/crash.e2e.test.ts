import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { fixture, postSlack, fakeEnv } from '../app-harness.js';
import { startChild, type ChildThreadline } from '../child-process.js';
import { REDIS_URL, eventually, uniquePrefix } from '../helpers.js';
import { placeKept as placeKeptIn, settled as settledIn, withRedis, type Redis } from './stored.js';

/** kill -9 in the middle of a run and of a meeting, then a restart. */

/** How long a restarted process may take to pick a turn up: the dead one's lock lapses within 10 s. */
const RESTART_MS = 25_000;
let ds: FakeDashScope;
let slack: FakeSlack;
let env: Record<string, string>;
let app: ChildThreadline | undefined;

beforeAll(async () => {
  [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
  // info: what each restarted process did is in its output when a test here fails
  env = { ...fakeEnv({ ds, slack }), REDIS_URL, REDIS_PREFIX: uniquePrefix('crash'), LOG_LEVEL: 'info' };
});
// every test ends with no Threadline running: one left over would share the Redis prefix and take
// over the next test's turns once their lock lapsed (a test that starts an app without stopping the
// last one made the restarted process of a later test find its turn already finished)
afterEach(async () => {
  await app?.stop();
  app = undefined;
});
afterAll(async () => {
  await Promise.all([ds.stop(), slack.stop()]);
});

describe('kill -9', () => {
  it('after the acknowledgement and before the message was queued: the next instance answers it, once (issue 21)', async () => {
    const quick = { ...env, INSTANCE_HEARTBEAT: '1s', REDIS_PREFIX: uniquePrefix('intake') };
    app = await startChild(quick);
    let release!: () => void;
    slack.holdUsersInfo = new Promise<void>((r) => (release = r));
    ds.model = ({ newUserMessages }) => ({ text: `answered after a crash: ${newUserMessages.join()}` });
    const base = fixture('slack.json').mention;
    const ts = '1799100000.000100';
    const ev = { ...base, event_id: 'EvIntake1', event: { ...base.event, user: 'U00INTAKE01', ts, event_ts: ts, text: '<@U00FAKEBOT01> are you there?' } };
    expect((await postSlack(app.url, ev)).status).toBe(200); // acknowledged: Slack will never send it again
    await slack.log.waitFor((c) => c.method === 'users.info.held' && c.args.user === 'U00INTAKE01', 10_000);
    await app.kill(); // claimed, not yet queued
    release();
    slack.holdUsersInfo = undefined;
    app = await startChild(quick);
    const replied = (c: { method: string; args: Record<string, any> }) => (c.method === 'chat.startStream' || c.method === 'chat.postMessage') && c.args.thread_ts === ts;
    await slack.log.waitFor(replied, 20_000, 'the answer after the restart').catch((e) => {
      throw new Error(`${(e as Error).message}\n${app?.output()}`);
    });
    await app.stop();
    app = undefined;
    expect(slack.log.filter(replied)).toHaveLength(1);
    expect(ds.messageCreates().filter((c) => String(c.body.content).includes('are you there?'))).toHaveLength(1);
  }, 60_000);

  it('during a run, with a second instance running: that instance takes the turn over once the lock lapses, no restart needed (issue 21)', async () => {
    const shared = { ...env, REDIS_PREFIX: uniquePrefix('adopt'), ADOPT_EVERY: '500ms' };
    app = await startChild(shared);
    const other = await startChild(shared);
    try {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      ds.model = () => ({ text: 'finished by the other instance', until: gate });
      const base = fixture('slack.json').mention;
      const ts = '1799200000.000100';
      const ev = { ...base, event_id: 'EvAdopt1', event: { ...base.event, ts, event_ts: ts } };
      const runsBefore = ds.runCreates().length;
      expect((await postSlack(app.url, ev)).status).toBe(200);
      await ds.log.waitFor(() => ds.runCreates().length > runsBefore);
      await app.kill(); // mid-turn: the conversation's lock stops being renewed and lapses (10 s)
      app = undefined;
      release();
      const replied = (c: { method: string; args: Record<string, any> }) => c.method === 'chat.postMessage' && c.args.thread_ts === ts;
      await slack.log.waitFor(replied, RESTART_MS, 'the reply from the instance that took over').catch((e) => {
        throw new Error(`${(e as Error).message}\n${other.output()}`);
      });
      expect(
        slack
          .calls('chat.postMessage')
          .filter((c) => c.args.thread_ts === ts)
          .map((c) => c.text),
      ).toEqual(['finished by the other instance']);
      // the run was adopted (polled to its end), not started again
      expect(ds.runCreates().length).toBe(runsBefore + 1);
    } finally {
      await other.stop();
    }
  }, 60_000);

  it('just after the answer was all out (stream stopped, 👀 not yet removed): the restart posts nothing more (issue 21)', async () => {
    app = await startChild(env);
    ds.model = () => ({ text: 'the whole answer, delivered' });
    const base = fixture('slack.json').mention;
    const ts = '1799300000.000100';
    let release!: () => void;
    // a workspace without agent sessions shows 👀 while the turn works and takes it off after the
    // answer (with a session, the stream's stop ends it and nothing follows the answer): hold that, and die there
    slack.agentSessions = false;
    onTestFinished(() => void (slack.agentSessions = true));
    slack.hold = { method: 'reactions.remove', when: (a) => a.timestamp === ts, until: new Promise<void>((r) => (release = r)) };
    await postSlack(app.url, { ...base, event_id: 'EvDelivered1', event: { ...base.event, ts, event_ts: ts } });
    await slack.log.waitFor((c) => c.method === 'reactions.remove.held' && c.args.timestamp === ts, 15_000, 'the 👀 removal after the answer');
    await app.kill();
    slack.hold = undefined;
    release();
    app = await startChild(env);
    // the restarted process looks at the conversation (its lock lapses within 10 s), finds the answer delivered, and ends the turn quietly
    await settled(ts);
    expect(slack.visible(base.event.channel, ts)).toEqual(['the whole answer, delivered']);
    expect(slack.calls('chat.postMessage').filter((c) => c.args.thread_ts === ts)).toEqual([]);
  }, 60_000);

  it('during a run: after the restart the reply is delivered to the thread and the mapping is intact', async () => {
    app = await startChild(env);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    ds.model = () => ({ text: 'the answer that survived a crash', until: gate });
    const base = fixture('slack.json');
    const runsBefore = ds.runCreates().length;
    await postSlack(app.url, base.mention);
    await ds.log.waitFor(() => ds.runCreates().length > runsBefore); // this test's run, not an earlier one
    await app.kill();
    release(); // the run finishes at DashScope while Threadline is down
    app = await startChild(env);
    // the dead process's lock on the conversation expires (10 s TTL, no renewal) before recovery can run
    await slack.log
      .waitFor((c) => c.method === 'chat.postMessage' && c.args.thread_ts === base.mention.event.ts, RESTART_MS, 'recovered reply')
      .catch((e) => {
        throw new Error(`${(e as Error).message}\n${app?.output()}`);
      });
    const reply = slack
      .calls('chat.postMessage')
      .filter((c) => c.args.thread_ts === base.mention.event.ts)
      .at(-1)!;
    expect(reply.text).toBe('the answer that survived a crash');
    // the agent session the dead process left `processing` is set back to `active` by the one that answered
    await slack.log.waitFor((c) => c.method === 'agents.sessions.setStatus' && c.args.thread_ts === base.mention.event.ts && c.args.status === 'active', 5_000, 'session active');
    expect(slack.sessions.get(`${base.mention.event.channel}:${base.mention.event.ts}`)!.statuses.at(-1)).toBe('active');
    // the conversation still maps to the same Assistant thread
    ds.model = ({ newUserMessages }) => ({ text: `follow-up: ${newUserMessages.join()}` });
    const threadsBefore = ds.threads.size;
    await postSlack(app.url, base.followUp);
    await slack.log
      .waitFor((c) => c.method === 'chat.stopStream' && slack.calls('chat.startStream').some((s) => s.result?.ts === c.args.ts && s.args.thread_ts === base.mention.event.ts))
      .catch((e) => {
        throw new Error(`${(e as Error).message}\n${slack.log.calls.map((c) => c.method).join(' ')}\n${app?.output()}`);
      });
    expect(ds.threads.size).toBe(threadsBefore);
    const runs = ds.runCreates().slice(runsBefore); // this test's runs only
    expect(runs.at(-1)!.path).toBe(runs[0].path);
  }, 60_000);

  /** Waits until the conversation of thread `ts` has nothing in flight any more (its turn settled, by the usual recovery rules). */
  const settled = (ts: string) => settledIn(env.REDIS_PREFIX, ts, RESTART_MS);

  /**
   * A reply in thread `ts` held after its first words, and the process killed there: once its
   * stream started and the record kept where it is, or (without streaming) once its first message was posted.
   */
  async function killWhilePosting(eventId: string, ts: string): Promise<void> {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    ds.model = () => ({ text: ['the first words of a long reply', ' and the rest'], holdAfterFirstDelta: gate });
    const base = fixture('slack.json').mention;
    await postSlack(app!.url, { ...base, event_id: eventId, event: { ...base.event, ts, event_ts: ts, text: '<@U00FAKEBOT01> say something' } });
    await slack.log.waitFor((c) => ['chat.startStream', 'chat.postMessage'].includes(c.method) && c.args.thread_ts === ts, 15_000, 'first text');
    await placeKept(ts);
    await app!.kill();
    release(); // the run finishes at DashScope while Threadline is down
  }
  /** Waits until the record of thread `ts`'s conversation keeps where its reply is (the sink's place). */
  const placeKept = (ts: string) => placeKeptIn(env.REDIS_PREFIX, ts);
  const inThread = (ts: string) => slack.log.filter((c) => ['chat.postMessage', 'chat.startStream'].includes(c.method) && c.result?.ok && c.args.thread_ts === ts);
  /** Slack sees calls of `method` matching `when` and answers none of them until the test ends (`landed`: carries them out, only the answers wait). */
  function holdSlack(method: string, when: (args: Record<string, any>) => boolean, landed = false): void {
    let unhold!: () => void;
    slack.hold = { method, when, landed, until: new Promise<void>((r) => (unhold = r)) };
    onTestFinished(() => {
      slack.hold = undefined;
      unhold();
    });
  }
  /** The restarted process tells the thread, once, that it did not post the reply again, and sets the session back; nothing else reaches the thread. */
  async function expectOneApology(ts: string): Promise<void> {
    const apology = await slack.log
      .waitFor((c) => c.method === 'chat.postMessage' && c.args.thread_ts === ts, RESTART_MS, 'apology')
      .catch((e) => {
        throw new Error(`${(e as Error).message}\n${app?.output()}`);
      });
    expect(apology.text).toMatch(/restarted while posting my last answer, so I did not post it again/);
    // the session the dead process left `processing` is set back by the one that apologised
    await slack.log.waitFor((c) => c.method === 'agents.sessions.setStatus' && c.args.thread_ts === ts && c.args.status === 'active', 5_000, 'session active');
    expect(inThread(ts).map((c) => c.method)).toEqual(['chat.startStream', 'chat.postMessage']);
  }

  it('while streaming a reply: the restart completes it in place, the whole answer once in the message that streamed (a kill -9 loses nothing)', async () => {
    app = await startChild(env);
    const ts = '1767391000.000001';
    await killWhilePosting('EvKilledPosting', ts);
    app = await startChild(env);
    await expectCompletedInPlace(ts, 'the first words of a long reply and the rest');
    // the stream held only the first words: stopped, then its text replaced by the whole answer
    expect(updatesIn(ts)).toEqual([true]);
  }, 60_000);

  it('while posting a reply where Slack does not stream: the restart edits the posted message to the whole answer, and posts nothing below', async () => {
    slack.streaming = false;
    onTestFinished(() => void (slack.streaming = true));
    app = await startChild(env);
    const ts = '1767391500.000001';
    await killWhilePosting('EvKilledPostingNoStream', ts);
    app = await startChild(env);
    await app.waitForOutput(/completing in place a reply the last process stopped while posting/, RESTART_MS);
    await settled(ts);
    expect(slack.visible(fixture('slack.json').mention.event.channel, ts)).toEqual(['the first words of a long reply and the rest']);
    // the one message the dead process posted, edited in place
    expect(inThread(ts).map((c) => c.method)).toEqual(['chat.postMessage']);
    const posted = inThread(ts)[0].result!.ts;
    expect(
      slack
        .calls('chat.update')
        .filter((c) => c.args.ts === posted && c.result?.ok)
        .at(-1)?.args.markdown_text,
    ).toBe('the first words of a long reply and the rest');
  }, 60_000);

  /**
   * On a fresh process, a reply in thread `ts` whose last part is going out (`method` matching
   * `when` held, landed at Slack or not); the process is killed there and started again.
   */
  async function killWhileFinishing(
    eventId: string,
    ts: string,
    text: string[],
    hold: { method: string; when: (a: Record<string, any>) => boolean; landed?: boolean; again?: boolean },
  ): Promise<void> {
    app = await startChild(env);
    holdSlack(hold.method, hold.when, hold.landed);
    ds.model = () => ({ text });
    const base = fixture('slack.json').mention;
    await postSlack(app.url, { ...base, event_id: eventId, event: { ...base.event, ts, event_ts: ts, text: '<@U00FAKEBOT01> say something' } });
    await slack.log.waitFor((c) => c.method === `${hold.method}.held` && hold.when(c.args), 15_000, 'the last call');
    await app.kill();
    // the dead process's call stays held; the next process's calls go through (unless it is to be held `again`)
    if (!hold.again) slack.hold = undefined;
    app = await startChild(env);
  }
  /** The restarted process completes the reply in place: the thread shows the whole answer once, in the message that streamed it, and no apology. */
  async function expectCompletedInPlace(ts: string, answer: string): Promise<void> {
    await app!.waitForOutput(/completing in place a reply the last process stopped while posting/, RESTART_MS);
    await settled(ts);
    const channel = fixture('slack.json').mention.event.channel;
    expect(slack.visible(channel, ts)).toEqual([answer]);
    // the session the dead process left `processing` is out of it (the stream's stop, or a setStatus)
    expect(slack.sessions.get(`${channel}:${ts}`)!.statuses.at(-1)).toBe('active');
    expect(inThread(ts).map((c) => c.method)).toEqual(['chat.startStream']);
  }
  const streamIn = (ts: string) => (a: Record<string, any>) => slack.streamThread(String(a.ts)) === ts;
  /** The edits of thread `ts`'s streamed messages (each `true` where Slack took it, else its error). */
  /** The stops of thread `ts`'s streams (each `true` where Slack took it, else its error). */
  const stopsIn = (ts: string) =>
    slack
      .calls('chat.stopStream')
      .filter((c) => streamIn(ts)(c.args))
      .map((c) => (c.result?.ok ? true : c.result?.error));
  const updatesIn = (ts: string) =>
    slack
      .calls('chat.update')
      .filter((c) => streamIn(ts)(c.args))
      .map((c) => (c.result?.ok ? true : c.result?.error));

  it('while its last call was going out, not yet landed: the restart stops the stream itself, the whole answer is there once, no apology', async () => {
    const ts = '1767393000.000001';
    await killWhileFinishing('EvFinishing', ts, ['the first words of a long reply', ' and the rest'], { method: 'chat.stopStream', when: streamIn(ts) });
    await expectCompletedInPlace(ts, 'the first words of a long reply and the rest');
    // the stream held everything: stopped, not rewritten
    expect(updatesIn(ts)).toEqual([]);
    expect(stopsIn(ts)).toEqual([true]);
  }, 60_000);

  it('while its last call was going out, landed but unanswered: the restart finds the stream stopped and posts nothing more', async () => {
    const ts = '1767394000.000001';
    await killWhileFinishing('EvFinishingLanded', ts, ['the first words of a long reply', ' and the rest'], { method: 'chat.stopStream', when: streamIn(ts), landed: true });
    await expectCompletedInPlace(ts, 'the first words of a long reply and the rest');
    // Slack refused the second stop (already stopped): the first one's feedback buttons stay, nothing is rewritten
    expect(stopsIn(ts)).toEqual([true, 'message_not_in_streaming_state']);
    expect(updatesIn(ts)).toEqual([]);
  }, 60_000);

  it('while its last words were being appended: the restart stops the stream and puts the whole answer in that message', async () => {
    const ts = '1767395000.000001';
    // a trailing `@team` waits for the final append (it could still become a mention): that append is held, and the process killed
    await killWhileFinishing('EvFinishingAppend', ts, ['the first words of a long reply', ' and ask @team'], {
      method: 'chat.appendStream',
      when: (a) => streamIn(ts)(a) && String(a.markdown_text ?? '').endsWith('@team'),
    });
    await expectCompletedInPlace(ts, 'the first words of a long reply and ask @team');
    expect(updatesIn(ts)).toEqual([true]);
  }, 60_000);

  it('dies again while completing it in place: the next restart does not try a third time, it apologises once', async () => {
    const ts = '1767396000.000001';
    // every stop of this stream is held: the first process's, then the one completing it in place
    await killWhileFinishing('EvFinishingTwice', ts, ['the first words of a long reply', ' and the rest'], { method: 'chat.stopStream', when: streamIn(ts), again: true });
    const second = app!;
    await second.waitForOutput(/completing in place a reply the last process stopped while posting/, RESTART_MS);
    await eventually(async () => slack.log.filter((c) => c.method === 'chat.stopStream.held' && streamIn(ts)(c.args)).length === 2, 10_000, 'the stop completing it in place');
    await second.kill();
    app = await startChild(env);
    await Promise.all([expectOneApology(ts), app.waitForOutput(/reply dropped/, RESTART_MS)]).catch((e) => {
      // what each process said, and what reached this thread: kept for a failure seen under load (a restart acting late) that did not come back
      const calls = slack.log.filter((c) => c.args.thread_ts === ts || streamIn(ts)(c.args)).map((c) => `${c.method} ${c.result?.ok ?? ''}`);
      throw new Error(`${(e as Error).message}\nsecond: ${second.output()}\nthird: ${app?.output()}\ncalls: ${calls.join(' | ')}`);
    });
  }, 90_000);

  it('dies again while posting it again: the next restart does not post it a third time, it apologises once (a reply that crashed us would crash us again)', async () => {
    app = await startChild(env);
    const ts = '1767392000.000001';
    // the second posting (the whole answer put in the streamed message) never reaches Slack: the process is killed while it waits
    holdSlack('chat.update', (a) => slack.streamThread(String(a.ts)) === ts && String(a.markdown_text ?? a.text ?? '').includes('the rest'));
    await killWhilePosting('EvPoison', ts);
    app = await startChild(env);
    await slack.log
      .waitFor((c) => c.method === 'chat.update.held' && slack.streamThread(String(c.args.ts)) === ts, RESTART_MS, 'the second posting')
      .catch((e) => {
        throw new Error(`${(e as Error).message}\n${app?.output()}`);
      });
    await app.kill();
    app = await startChild(env);
    await expectOneApology(ts);
    await app.waitForOutput(/reply dropped/);
  }, 90_000);

  it('during a meeting: no captured line is lost', async () => {
    // the first process batches lines only once an hour, so at the kill they are all still queued
    app = await startChild({ ...env, MEETING_BATCH: '1h' });
    const command = (text: string) => ({
      command: '/assistant',
      text,
      team_id: 'T00FAKE00AA',
      channel_id: 'CCRASH',
      user_id: 'U00FAKEUSER1',
      trigger_id: `tr-${text}-${Date.now()}`,
      response_url: 'http://127.0.0.1:9/',
    });
    await postSlack(app.url, command('notes start Crash drill'), { form: true });
    await slack.log.waitFor((c) => c.method === 'chat.postMessage' && String(c.text).includes('Crash drill'));
    const base = fixture('slack.json').followUp;
    for (let i = 0; i < 40; i++) {
      const ts = `${1797000000 + i}.000100`;
      expect(
        (await postSlack(app.url, { ...base, event_id: `EvC${i}`, event: { type: 'message', user: 'U00FAKEUSER1', text: `line ${i}`, ts, channel: 'CCRASH', event_ts: ts, channel_type: 'channel' } }))
          .status,
      ).toBe(200);
    }
    // Slack got its 200s before the lines were queued: wait until all 40 are in the meeting's queue in Redis
    const queued = (redis: Redis) => async () => {
      let n = 0;
      for (const key of await redis.keys(`${env.REDIS_PREFIX}list:meeting-lines:*`)) n += await redis.lLen(key);
      return n === 40;
    };
    await withRedis((redis) => eventually(queued(redis), 15_000, 'all lines queued'));
    await postSlack(app.url, command('notes status'), { form: true });
    await slack.log.waitFor((c) => c.method === 'chat.postMessage' && /40 lines captured/.test(String(c.text)), 10_000, 'status');
    await app.kill();
    app = await startChild({ ...env, MEETING_BATCH: '50ms' });
    const meetingThreads = () => [...ds.threads.values()].filter((t) => t.metadata?.conversation === 'meeting:slack:T00FAKE00AA:CCRASH');
    // what reached the meeting's Assistant threads (the requests' bodies: the fake logs a call before it applies it)
    const lines = () => meetingThreads().flatMap((t) => ds.messageCreates(t.id).flatMap((c) => String(c.body.content).split('\n')));
    await ds.log
      .waitFor(() => lines().length >= 40, 15_000, 'lines after the restart')
      .catch((e) => {
        throw new Error(`${(e as Error).message}: ${lines().length} lines\n${app?.output()}`);
      });
    expect(lines().map((l) => l.replace(/^\[\d\d:\d\d\] /, ''))).toEqual(Array.from({ length: 40 }, (_, i) => `user-U00FAKEUSER1: line ${i}`));
  }, 60_000);
});
