import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AssistantBackend, ensureAssistant } from '../../src/backends/assistant/index.js';
import { Engine } from '../../src/engine/engine.js';
import { ImageFetcher } from '../../src/engine/images.js';
import { Meetings } from '../../src/engine/meetings/index.js';
import { ToolRegistry } from '../../src/engine/tools/registry.js';
import { LocalStore } from '../../src/store/index.js';
import { capturingLogger } from '../helpers.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { RecordingPlatform, textOf } from '../fakes/recording-sink.js';
import { SETTINGS, apiFor, inbound } from './harness.js';

/** Issue 17: records read back from the store are checked; a corrupt one is logged and treated as absent, never crashes a turn. */
let fake: FakeDashScope;
const { log, lines } = await capturingLogger();

beforeAll(async () => {
  fake = await new FakeDashScope().start();
});
afterAll(() => fake.stop());
beforeEach(() => {
  lines.length = 0;
  fake.model = ({ newUserMessages }) => ({ text: `You said: ${newUserMessages.join(' | ')}` });
});

async function engineOn(store: LocalStore) {
  const api = apiFor(fake);
  const backend = new AssistantBackend(api, await ensureAssistant(api, store, SETTINGS));
  const platform = new RecordingPlatform();
  const engine = new Engine({ backend, store, registry: new ToolRegistry(), images: new ImageFetcher({ hosts: [] }), platforms: { slack: platform }, log });
  return { engine, platform, backend };
}

describe('stored records that are not what this release wrote', () => {
  it.each([
    ['a string', 'garbage'],
    ['an array', [1, 2]],
    ['a record without its backend state', { key: 'slack:T1:CR1:1.0', target: { platform: 'slack', channel: 'CR1' }, lastActivity: 1 }],
    ['a record whose target is not one', { key: 'slack:T1:CR1:1.0', state: { backend: 'assistant', threadId: 'thread_x' }, target: 'C1', lastActivity: 1 }],
    [
      'a record whose run id is a number',
      { key: 'slack:T1:CR1:1.0', state: { backend: 'assistant', threadId: 'thread_x' }, target: { platform: 'slack', channel: 'CR1' }, lastActivity: 1, activeRunId: 42 },
    ],
  ])('a conversation record that is %s: logged, and the message answered in a fresh conversation', async (_label, corrupt) => {
    const store = new LocalStore();
    const { engine, platform } = await engineOn(store);
    await store.set('conversation:slack:T1:CR1:1.0', corrupt);
    await engine.receive(inbound(platform, { channel: 'CR1', text: 'still there?', group: false }));
    await engine.idle();
    expect(platform.endings('CR1').map(textOf)).toEqual(['You said: still there?']);
    expect(lines.filter((l) => l.msg === 'stored conversation record is not valid: starting the conversation afresh')).toEqual([
      expect.objectContaining({ level: 'warn', conversation: 'slack:T1:CR1:1.0' }),
    ]);
    // the fresh record replaced the corrupt one
    expect((await engine.conversations.get('slack:T1:CR1:1.0'))?.state.backend).toBe('assistant');
    await store.close();
  });

  it('a queued message that is not valid is left out with a log line; the rest of the batch is answered', async () => {
    const store = new LocalStore();
    const { engine, platform } = await engineOn(store);
    await store.listPush('turns:slack:T1:CQ9:1.0', ['{not json', JSON.stringify({ eventId: 5 })]);
    await engine.receive(inbound(platform, { channel: 'CQ9', text: 'the real one', group: false }));
    await engine.idle();
    expect(platform.endings('CQ9').map(textOf)).toEqual(['You said: the real one']);
    expect(lines.filter((l) => l.msg === 'a queued message is not valid: left out')).toHaveLength(2);
    expect(await store.listLength('turns:slack:T1:CQ9:1.0')).toBe(0);
    await store.close();
  });

  it('a meeting record that is not valid is logged and treated as no meeting: the channel can start one', async () => {
    const store = new LocalStore();
    const { engine, backend } = await engineOn(store);
    const meetings = new Meetings({ backend, store, engine, log });
    await store.set('meeting:slack:T1:CM9', {
      id: 'm1',
      channelKey: 'slack:T1:CM9',
      state: { backend: 'assistant', threadId: 't' },
      target: { platform: 'slack', channel: 'CM9' },
      startedAt: 'yesterday',
    });
    expect(await meetings.get('slack:T1:CM9')).toBeUndefined();
    expect(await meetings.isActive('slack:T1:CM9')).toBe(false);
    expect(lines.filter((l) => l.msg === 'stored meeting record is not valid: treated as no meeting')[0]).toMatchObject({ level: 'warn', channel: 'slack:T1:CM9', field: 'counters' });
    await meetings.close();
    await store.close();
  });
});
