import { describe, expect, it } from 'vitest';
import { Intake } from '../../src/engine/intake.js';
import type { Store } from '../../src/store/index.js';
import { capturingLogger, memoryAndRedisStores } from '../helpers.js';

const stores = memoryAndRedisStores('intake');

describe.each(stores)('intake on the %s store', (_name, make) => {
  async function instance(store: Store): Promise<Intake> {
    const { log } = await capturingLogger();
    const intake = new Intake(store, log, 60_000);
    await intake.start();
    return intake;
  }

  it("hands back what a dead instance acknowledged, never a live one's, and lets a replayed entry go", async () => {
    const store = await make();
    const [dead, alive, next] = [await instance(store), await instance(store), await instance(store)];
    const lost = await dead.record('EvLost1', { event: { text: 'acknowledged, then kill -9' } });
    await alive.record('EvBusy1', { event: { text: 'being handled right now' } });
    await store.delete(`alive:${dead.instance}`); // its heartbeat ran out

    const orphans = await next.orphans();
    expect(orphans.map((o) => [o.id, o.body])).toEqual([['EvLost1', { event: { text: 'acknowledged, then kill -9' } }]]);
    await next.done(orphans[0].entry);
    expect(lost).toBe(orphans[0].entry);
    expect(await next.orphans()).toEqual([]);
    // the dead instance had nothing left: it leaves the list; the live ones stay
    expect((await store.setMembers('intake:instances')).sort()).toEqual([alive.instance, next.instance].sort());
  });

  it('counts what this instance holds and lets its own entries go', async () => {
    const store = await make();
    const intake = await instance(store);
    const a = await intake.record('EvA', { n: 1 });
    const b = await intake.record('Ev"by":"x', { n: 2 }); // an id that looks like the field is escaped in the entry
    expect(intake.pending).toBe(2);
    await intake.done(a);
    await intake.done(b);
    expect(intake.pending).toBe(0);
    expect(await store.setMembers(`intake:${intake.instance}`)).toEqual([]);
  });

  it('replays entries left in the one shared set of the earlier release, and drops invalid ones', async () => {
    const store = await make();
    const legacy = JSON.stringify({ id: 'EvOld1', by: 'instance-gone-before-the-upgrade', at: 1, body: { event: { text: 'old' } } });
    await store.setAdd('intake', legacy);
    await store.setAdd('intake', 'not json');
    const intake = await instance(store);
    const orphans = await intake.orphans();
    expect(orphans.map((o) => o.id)).toEqual(['EvOld1']);
    await intake.done(orphans[0].entry);
    expect(await store.setMembers('intake')).toEqual([]);
  });
});
