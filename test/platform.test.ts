import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyPart, type ConversationKeyCodec } from '../src/engine/conversation-key.js';
import type { FinalReply, ReplySink } from '../src/engine/types.js';
import type { PlatformModule } from '../src/platform.js';
import { boot, fakeEnv } from './app-harness.js';
import { FakeDashScope } from './fakes/dashscope.js';

/**
 * A fourth platform, written here and nowhere else: a key codec, routes, a sink with only the
 * required methods, and a module. Threadline runs it, answers on it, and refuses its bad settings,
 * with no change to src/.
 */
const pagerKeys: ConversationKeyCodec<{ pager: string }> = {
  platform: 'pager',
  encode: (r) => `pager:net:${keyPart(r.pager, 'pager')}`,
  decode: (k) => ({ pager: keyPart(k.split(':')[2], 'pager') }),
  isDirect: () => true,
};

const received: Array<{ pager: string; kind: string; text: string }> = [];
class PagerSink implements ReplySink {
  constructor(private readonly pager: string) {}
  async finish(r: FinalReply) {
    received.push({ pager: this.pager, kind: 'reply', text: r.text });
  }
  async notice(text: string) {
    received.push({ pager: this.pager, kind: 'notice', text });
  }
  async fail(text: string) {
    received.push({ pager: this.pager, kind: 'fail', text });
  }
}

const pagerPlatform: PlatformModule = {
  name: 'pager',
  routePrefixes: ['/pager/'],
  role: () => 'web',
  enabled: (config) => config.env('PAGER_NETWORK') !== undefined,
  problems: (config) => (config.env('PAGER_NETWORK') === 'bad' ? [{ variable: 'PAGER_NETWORK', problem: 'must name a network' }] : []),
  start: async ({ engine }) => {
    const routes = new Hono();
    routes.post('/pager/:id', async (c) => {
      const pager = c.req.param('id');
      const key = pagerKeys.encode({ pager });
      const target = { platform: 'pager', pager };
      await engine.receive({
        key,
        target,
        author: { id: pager, name: pager },
        text: await c.req.text(),
        kind: 'dm',
        eventId: `pager:${crypto.randomUUID()}`,
        group: false,
        channelKey: key,
        at: Date.now(),
        sink: new PagerSink(pager),
      });
      return c.body(null, 202);
    });
    return { name: 'pager', keys: pagerKeys, routes, sinkFor: (t) => new PagerSink(String(t.pager)), isConnected: () => true, stop: async () => {} };
  },
};

let ds: FakeDashScope;
beforeAll(async () => {
  ds = await new FakeDashScope().start();
});
afterAll(() => ds.stop());

describe('a platform is one module', () => {
  it('runs beside the others and gets whole answers on a sink without streaming, status or code', async () => {
    const app = await boot({ ...fakeEnv({ ds }), PAGER_NETWORK: 'test' }, { platforms: [pagerPlatform] });
    try {
      expect(Object.keys(app.platforms).sort()).toEqual(['pager', 'web']);
      ds.model = ({ newUserMessages }) => ({ text: ['Reply ', `to ${newUserMessages.join('')}`], codeInterpreter: { input: 'print(1)', output: '1' } });
      expect((await fetch(`${app.url}/pager/p42`, { method: 'POST', body: 'hello pager' })).status).toBe(202);
      await app.engine.idle();
      // no code capability: the step came as a notice, in Markdown; then the whole answer once
      expect(received.filter((r) => r.pager === 'p42')).toEqual([
        { pager: 'p42', kind: 'notice', text: '**Code run**\n```python\nprint(1)\n```\n**Output**\n```\n1\n```' },
        { pager: 'p42', kind: 'reply', text: 'Reply to hello pager' },
      ]);
    } finally {
      await app.stop(1_000);
    }
  });

  it('gets meeting minutes as a notice, without a minutes capability', async () => {
    const app = await boot({ ...fakeEnv({ ds }), PAGER_NETWORK: 'test' }, { platforms: [pagerPlatform] });
    try {
      ds.model = () => ({ text: 'Decided: ship it.' });
      const page = (text: string) => fetch(`${app.url}/pager/p7`, { method: 'POST', body: text });
      await page('notes start Launch');
      await page('notes stop');
      await app.engine.idle();
      const minutes = received.filter((r) => r.pager === 'p7' && r.text.startsWith('# Minutes: Launch'));
      expect(minutes).toHaveLength(1);
      expect(minutes[0]).toMatchObject({ kind: 'notice' });
      expect(minutes[0].text).toContain('Decided: ship it.');
    } finally {
      await app.stop(1_000);
    }
  });

  it("refuses to start with the platform's own bad settings, naming the variable", async () => {
    await expect(boot({ ...fakeEnv({ ds }), PAGER_NETWORK: 'bad' }, { platforms: [pagerPlatform] })).rejects.toThrow(/PAGER_NETWORK: must name a network/);
  });
});
