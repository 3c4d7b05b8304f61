import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { getCurrentTime } from '../../src/engine/tools/builtin.js';
import { ToolRegistry } from '../../src/engine/tools/registry.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeSlack } from '../fakes/slack.js';
import { boot, fakeEnv, fixture, postSlack } from '../app-harness.js';

/** Slack clears an assistant thread's status after about two minutes: a long tool call must not leave the person without one. */
let ds: FakeDashScope;
let slack: FakeSlack;
let app: Threadline;
let toolDone!: () => void;
const toolGate = new Promise<void>((r) => (toolDone = r));

beforeAll(async () => {
  [ds, slack] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start()]);
  const registry = new ToolRegistry().register(getCurrentTime).register({
    name: 'slow_report',
    description: 'A report that takes long',
    parameters: { type: 'object', properties: {} },
    handler: async () => (await toolGate, { rows: 3 }),
  });
  app = await boot({ ...fakeEnv({ ds, slack }), SLACK_AGENT_VIEW: 'false' }, { registry, testing: { slackRateLimits: 'unlimited', webApiRetries: 0, editIntervalMs: 20, slackStatusRefreshMs: 30 } });
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([ds.stop(), slack.stop()]);
});

describe('the assistant-thread status during a long tool call', () => {
  it('is sent again while the tool runs, and cleared at the end', async () => {
    const dm = fixture('dm-slack.json').dmMessage;
    await postSlack(app.url, {
      type: 'event_callback',
      team_id: 'T00FAKE00AA',
      event_id: 'EvST0',
      event: { type: 'assistant_thread_started', assistant_thread: { channel_id: 'D0STATUS1', thread_ts: '1770000000.000100', user_id: 'U00FAKEUSER1', context: {} } },
    });
    ds.model = ({ toolOutputs }) => (toolOutputs.length ? { text: 'three rows' } : { toolCalls: [{ name: 'slow_report', arguments: {} }] });
    await postSlack(app.url, { ...dm, event_id: 'EvST1', event: { ...dm.event, channel: 'D0STATUS1', ts: '1770000001.000100', thread_ts: '1770000000.000100', text: 'run the report' } });
    const statuses = () => slack.calls('assistant.threads.setStatus').filter((c) => c.args.channel_id === 'D0STATUS1' && c.args.status === 'is using slow_report…');
    await slack.log.waitForCount((c) => c.method === 'assistant.threads.setStatus' && c.args.channel_id === 'D0STATUS1' && c.args.status === 'is using slow_report…', 3, 5_000, 'refreshed statuses');
    toolDone();
    await app.slack!.idle();
    const after = slack.calls('assistant.threads.setStatus').filter((c) => c.args.channel_id === 'D0STATUS1');
    expect(after.at(-1)!.args.status).toBe('');
    const count = statuses().length;
    expect(count).toBeGreaterThanOrEqual(3);
    // nothing refreshes it once the turn is over: the next status set is the next turn's
    const done = slack.log.calls.length;
    ds.model = () => ({ text: 'noon' });
    await postSlack(app.url, { ...dm, event_id: 'EvST2', event: { ...dm.event, channel: 'D0STATUS1', ts: '1770000002.000100', thread_ts: '1770000000.000100', text: 'what time is it' } });
    await app.slack!.idle();
    expect(slack.log.calls.slice(done).filter((c) => c.method === 'assistant.threads.setStatus' && c.args.status === 'is using slow_report…')).toHaveLength(0);
  });
});
