import { describe, expect, it } from 'vitest';
import { discordPlaceOf, partNonce } from '../../adapters/discord/place.js';

describe("a Discord reply's place, as kept with the turn", () => {
  it('comes back from the store as it went in, an empty one too (a reply whose first create was going out)', () => {
    for (const place of [{ messages: ['1470000000000000101', '1470000000000000102'] }, { messages: [] }])
      expect(discordPlaceOf(JSON.parse(JSON.stringify(place)) as Record<string, unknown>)).toEqual(place);
  });

  it('is refused when it is not one (a Slack place, a record of another release, tampered with): the reply is then not completed in place', () => {
    for (const bad of [undefined, {}, { streams: ['1800000001.000100'] }, { messages: 'x' }, { messages: ['not an id'] }, { messages: [1470000000] }, { messages: Array(11).fill('1') }])
      expect(discordPlaceOf(bad as Record<string, unknown> | undefined)).toBeUndefined();
  });

  it("names each part of a reply by the message it answers, within Discord's 25 characters", () => {
    expect(partNonce('1470000000000000101', 0)).toBe('1470000000000000101.0');
    expect(partNonce('1470000000000000101', 9)).not.toBe(partNonce('1470000000000000101', 0));
    expect(partNonce('1470000000000000101', 0)).toBe(partNonce('1470000000000000101', 0)); // the same in any process
    expect(partNonce(undefined, 0)).toBeUndefined(); // nothing to answer: no nonce, no place
    expect(partNonce('1'.repeat(24), 0)).toBeUndefined();
  });
});
