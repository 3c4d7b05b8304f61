import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeResponses } from '../fakes/responses.js';
import { FakeSlack } from '../fakes/slack.js';
import { SIGNING_SECRET, fixture, postSlack } from '../app-harness.js';
import { startChild, type ChildThreadline } from '../child-process.js';
import { REDIS_URL, uniquePrefix } from '../helpers.js';

/** kill -9 during a Responses turn: the stream died with the process, so the restart answers the turn again from the stored history. */
let rs: FakeResponses;
let slack: FakeSlack;
let app: ChildThreadline | undefined;

beforeAll(async () => {
  [rs, slack] = await Promise.all([new FakeResponses().start(), new FakeSlack().start()]);
});
afterAll(async () => {
  await app?.stop();
  await Promise.all([rs.stop(), slack.stop()]);
});

describe('kill -9 on the Responses backend', () => {
  it('during a turn: the restarted process answers it once, in the thread, and the conversation keeps its history', async () => {
    const env = {
      DASHSCOPE_API: 'responses',
      DASHSCOPE_API_KEY: rs.apiKey,
      DASHSCOPE_BASE_URL: rs.baseUrl,
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.apiUrl,
      REDIS_URL,
      REDIS_PREFIX: uniquePrefix('rcrash'),
    };
    app = await startChild(env);
    rs.model = () => ({ text: 'never delivered', until: new Promise(() => undefined) });
    const base = fixture('slack.json');
    await postSlack(app.url, base.mention);
    await rs.log.waitFor((c) => c.path === '/compatible-mode/v1/responses');
    await app.kill();
    rs.model = ({ context }) => ({ text: `answered after the crash (${context.filter((i) => i.role === 'user').length} message)` });
    app = await startChild(env);
    // the dead process's lock expires (10 s TTL) before recovery can take the conversation
    const reply = await slack.log
      .waitFor((c) => ['chat.postMessage', 'chat.startStream'].includes(c.method) && c.args.thread_ts === base.mention.event.ts, 25_000, 'recovered reply')
      .catch((e) => {
        throw new Error(`${(e as Error).message}\n${app?.output()}`);
      });
    expect(reply.text ?? reply.args.markdown_text).toMatch(/answered after the crash \(1 message\)/);
    expect(slack.log.filter((c) => ['chat.postMessage', 'chat.startStream'].includes(c.method) && c.args.thread_ts === base.mention.event.ts)).toHaveLength(1);
    // the follow-up chains on the recovered answer
    rs.model = ({ context }) => ({ text: `now ${context.filter((i) => i.role === 'user').length} messages` });
    await postSlack(app.url, base.followUp);
    await slack.log.waitFor(
      (c) => c.method === 'chat.stopStream' && slack.calls('chat.startStream').some((s) => s.result?.ts === c.args.ts && String(s.args.markdown_text).startsWith('now')),
      10_000,
      'follow-up',
    );
    expect(rs.creates().at(-1)!.body.previous_response_id).toMatch(/^resp_/);
  }, 60_000);
});
