import { describe, expect, it } from 'vitest';
import { EventMarks } from '../../src/engine/event-marks.js';
import { memoryAndRedisStores } from '../helpers.js';

const stores = memoryAndRedisStores('marks');

describe.each(stores)('event marks on the %s store', (_name, make) => {
  it('tells an intake replay which events still need handling', async () => {
    const store = await make();
    const marks = new EventMarks(store, 60_000);
    // queued: settled in the same step as the queue entry
    expect(await marks.claim('EvQueued')).toBe(true);
    await store.listPush('turns:c1', ['{}'], { settle: marks.settling('EvQueued') });
    expect(await marks.needsReplay('EvQueued')).toBe(false);
    // answered without a queue entry
    await marks.claim('EvAnswered');
    await marks.settle('EvAnswered');
    expect(await marks.needsReplay('EvAnswered')).toBe(false);
    // claimed, then the process died: replay it
    await marks.claim('EvClaimed');
    expect(await marks.needsReplay('EvClaimed')).toBe(true);
    // never claimed: replay it, and it is claimed now, so a repeat is dropped and taking care of it settles it
    expect(await marks.needsReplay('EvUnseen')).toBe(true);
    expect(await marks.claim('EvUnseen')).toBe(false);
    await marks.settle('EvUnseen');
    expect(await marks.needsReplay('EvUnseen')).toBe(false);
    // marked taken care of by the release before this one, in a record of its own
    await store.set('event:EvOld', 2, 60_000);
    expect(await marks.needsReplay('EvOld')).toBe(false);
  });
});
