import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStore } from '../../src/store/index.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { textOf } from '../fakes/recording-sink.js';
import { inbound, makeEngine } from '../engine/harness.js';

/** Issue 19, finding 8: in a shared thread a stranger cannot reset or stop someone else's conversation. */
let fake: FakeDashScope;
beforeAll(async () => {
  fake = await new FakeDashScope().start();
});
afterAll(() => fake.stop());

describe('reset and stop in a shared thread', () => {
  it('belong to the people in the conversation and to admins', async () => {
    const { engine, platform } = await makeEngine(fake, new LocalStore());
    fake.model = ({ newUserMessages }) => ({ text: `ok: ${newUserMessages.join()}` });
    await engine.receive(inbound(platform, { channel: 'SH1', text: 'my question' }));
    await engine.idle();
    const threadBefore = (await engine.conversations.get('slack:T1:SH1:1.0'))!.state.threadId;

    await engine.receive(inbound(platform, { channel: 'SH1', text: 'reset', author: { id: 'U_STRANGER', name: 'Mallory' } }));
    await engine.receive(inbound(platform, { channel: 'SH1', text: 'stop', author: { id: 'U_STRANGER', name: 'Mallory' } }));
    const notices = platform.log.filter((e) => e.type === 'notice' && e.target.channel === 'SH1').map(textOf);
    expect(notices).toEqual(['Only the people in this conversation, or an admin, can reset it.', 'Only the people in this conversation, or an admin, can stop it.']);
    expect((await engine.conversations.get('slack:T1:SH1:1.0'))!.state.threadId).toBe(threadBefore);

    await engine.receive(inbound(platform, { channel: 'SH1', text: 'reset', author: { id: 'U_ADMIN', name: 'Root', isAdmin: true } }));
    expect(await engine.conversations.get('slack:T1:SH1:1.0')).toBeUndefined();
  });
});

describe('/metrics behind METRICS_TOKEN', () => {
  it('answers 401 without the token and the metrics with it', async () => {
    const { createServerApp } = await import('../../src/server.js');
    const { Readiness } = await import('../../src/readiness.js');
    const { Metrics } = await import('../../src/metrics.js');
    const { app } = createServerApp({ readiness: new Readiness(), metrics: new Metrics(), metricsToken: 'm-token-1' });
    expect((await app.request('/metrics')).status).toBe(401);
    expect((await app.request('/metrics', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const ok = await app.request('/metrics', { headers: { authorization: 'Bearer m-token-1' } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toMatch(/threadline_/);
    expect((await app.request('/healthz')).status).toBe(200); // health checks need no token
  });
});

describe('tools in a turn that carries several people', () => {
  it("learn every message's author, not only the last one's", async () => {
    const { ToolRegistry } = await import('../../src/engine/tools/registry.js');
    let seen: unknown;
    const registry = new ToolRegistry().register({
      name: 'who',
      description: 'who asked',
      parameters: { type: 'object' },
      handler: (_a, ctx) => ((seen = { userId: ctx.userId, authors: ctx.authors }), 'noted'),
    });
    const { engine, platform } = await makeEngine(fake, new LocalStore(), { registry });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    fake.model = ({ newUserMessages, toolOutputs }) => {
      if (newUserMessages.some((t) => t.includes('first'))) return { text: 'first answer', until: gate };
      return toolOutputs.length ? { text: 'done' } : { toolCalls: [{ name: 'who', arguments: {} }] };
    };
    const first = engine.receive(inbound(platform, { channel: 'SH2', text: 'first' }));
    await new Promise<void>((r) => engine.once('run-started', () => r()));
    await engine.receive(inbound(platform, { channel: 'SH2', text: 'from ada', author: { id: 'U_ADA', name: 'Ada' } }));
    await engine.receive(inbound(platform, { channel: 'SH2', text: 'from grace', author: { id: 'U_GRACE', name: 'Grace' } }));
    release();
    await first;
    await engine.idle();
    expect(seen).toEqual({
      userId: 'U_GRACE',
      authors: [
        { id: 'U_ADA', name: 'Ada' },
        { id: 'U_GRACE', name: 'Grace' },
      ],
    });
  });
});
