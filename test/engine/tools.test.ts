import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getCurrentTime } from '../../src/engine/tools/builtin.js';
import { loadToolsFrom } from '../../src/engine/tools/loader.js';
import { ToolRegistry } from '../../src/engine/tools/registry.js';
import { tempDir } from '../helpers.js';

describe('operator tools from a folder', () => {
  it('loads every module whose default export is a tool (or an array), skipping _files', async () => {
    const dir = join(tempDir('tools'), 'tools');
    mkdirSync(dir);
    writeFileSync(join(dir, 'weather.ts'), "export default { name: 'get_weather', description: 'w', parameters: { type: 'object' }, handler: ({ city }: { city: string }) => `sunny in ${city}` };\n");
    writeFileSync(join(dir, 'math.mjs'), "export default [{ name: 'add', description: 'a', parameters: { type: 'object' }, handler: ({ a, b }) => a + b }];\n");
    writeFileSync(join(dir, '_draft.ts'), 'throw new Error("not loaded")\n');
    const registry = new ToolRegistry().register(getCurrentTime);
    expect(await loadToolsFrom(dir, registry)).toEqual(['add', 'get_weather']);
    expect((await registry.call('get_weather', '{"city":"Hangzhou"}', { conversationKey: 'k' })).output).toBe('sunny in Hangzhou');
    expect((await registry.call('add', '{"a":2,"b":3}', { conversationKey: 'k' })).output).toBe('5');
    expect(registry.definitions().map((d) => d.name)).toEqual(['get_current_time', 'add', 'get_weather']);
  });

  it('a missing folder loads nothing; a broken module fails with its file name', async () => {
    expect(await loadToolsFrom(join(tempDir('none'), 'nope'), new ToolRegistry())).toEqual([]);
    const dir = tempDir('broken');
    writeFileSync(join(dir, 'bad.mjs'), 'export const notDefault = 1;\n');
    await expect(loadToolsFrom(dir, new ToolRegistry())).rejects.toThrow(/bad\.mjs/);
    // a TOOLS_DIR that is there but not a folder is the operator's to fix, not "no tools"
    const file = join(tempDir('file'), 'tools');
    writeFileSync(file, 'not a folder');
    await expect(loadToolsFrom(file, new ToolRegistry())).rejects.toThrow(/cannot read TOOLS_DIR/);
  });

  it('a tool that times out becomes an error output', async () => {
    const registry = new ToolRegistry().register({ name: 'slow', description: 's', parameters: {}, timeoutMs: 20, handler: () => new Promise(() => {}) });
    const res = await registry.call('slow', '{}', { conversationKey: 'k' });
    expect(res).toMatchObject({ ok: false });
    expect(res.output).toMatch(/timed out after 20 ms/);
  });

  it('get_current_time answers in the asked time zone and refuses an unknown one', async () => {
    const registry = new ToolRegistry().register(getCurrentTime);
    expect(JSON.parse((await registry.call('get_current_time', '{"timezone":"Asia/Shanghai"}', { conversationKey: 'k' })).output)).toMatchObject({ timezone: 'Asia/Shanghai' });
    expect((await registry.call('get_current_time', '{"timezone":"Mars/Olympus"}', { conversationKey: 'k' })).output).toMatch(/unknown time zone/);
  });
});

describe("arguments against the tool's schema (issue 19)", () => {
  it('the handler never sees arguments its schema refuses; the model is told what is wrong', async () => {
    let called = 0;
    const registry = new ToolRegistry().register({
      name: 'transfer',
      description: 'move money',
      parameters: { type: 'object', properties: { amount: { type: 'number', maximum: 100 }, to: { type: 'string' } }, required: ['amount', 'to'], additionalProperties: false },
      handler: () => (called++, 'moved'),
    });
    const refused = await Promise.all(
      ['{"amount":"all","to":"x"}', '{"amount":5000,"to":"x"}', '{"to":"x"}', '{"amount":5,"to":"x","admin":true}'].map((a) => registry.call('transfer', a, { conversationKey: 'k' })),
    );
    for (const r of refused) {
      expect(r.ok).toBe(false);
      expect(r.output).toMatch(/invalid arguments: arguments/);
    }
    expect(called).toBe(0);
    expect((await registry.call('transfer', '{"amount":5,"to":"x"}', { conversationKey: 'k' })).output).toBe('moved');
    expect(called).toBe(1);
    expect(() => new ToolRegistry().register({ name: 'bad', description: 'b', parameters: { type: 'no-such-type' }, handler: () => 1 })).toThrow(/not a JSON schema/);
  });
});
