import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SealBrokenError, seal, unseal } from '../../src/store/sealed.js';

describe('sealed values (installations at rest)', () => {
  const key = randomBytes(32);
  const value = { bot: { token: 'xoxb-1-secret', userId: 'U1' }, team: { id: 'T1', name: 'Alpha' } };

  it('round-trip with the same key and context, and hold nothing of the value in clear', () => {
    const sealed = seal(key, value, 'slack-install:team:T1');
    expect(unseal(key, sealed, 'slack-install:team:T1')).toEqual(value);
    const raw = JSON.stringify(sealed);
    for (const part of ['xoxb-1-secret', 'Alpha']) expect(raw).not.toContain(part);
    // a fresh IV each time: the same value never seals to the same bytes
    expect(seal(key, value).data).not.toBe(seal(key, value).data);
  });

  it('refuse another key, another context (a value copied under another store key) and altered bytes', () => {
    const sealed = seal(key, value, 'slack-install:team:T1');
    expect(() => unseal(randomBytes(32), sealed, 'slack-install:team:T1')).toThrow(SealBrokenError);
    expect(() => unseal(key, sealed, 'slack-install:team:T2')).toThrow(SealBrokenError);
    const data = Buffer.from(sealed.data, 'base64');
    data[0] ^= 1;
    expect(() => unseal(key, { ...sealed, data: data.toString('base64') }, 'slack-install:team:T1')).toThrow(SealBrokenError);
    expect(() => unseal(key, 'not sealed', 'x')).toThrow(SealBrokenError);
  });
});
