import { describe, expect, it } from 'vitest';
import { digestOf, slackPlaceOf } from '../../adapters/slack/place.js';

describe("a Slack reply's place, as kept with the turn", () => {
  it('comes back from the store as it went in', () => {
    const place = { streams: ['1800000001.000100', '1800000002.000100'], digest: digestOf('the whole answer'), uploads: 1 };
    expect(slackPlaceOf(JSON.parse(JSON.stringify(place)) as Record<string, unknown>)).toEqual(place);
  });

  it('keeps the messages a reply was posted in where Slack did not stream it, with no stream at all', () => {
    const place = { streams: [], digest: '', uploads: 0, posted: ['1800000003.000100', '1800000004.000100'] };
    expect(slackPlaceOf(JSON.parse(JSON.stringify(place)) as Record<string, unknown>)).toEqual(place);
    expect(slackPlaceOf({ streams: [], digest: '', uploads: 0, posted: [] })).toBeUndefined(); // nothing out: no place
    expect(slackPlaceOf({ streams: [], digest: '', uploads: 0, posted: ['not a ts'] })).toBeUndefined();
  });

  it('is refused when it is not one (a record of another release, or tampered with): the reply is then not completed in place', () => {
    const digest = digestOf('x');
    for (const bad of [
      undefined,
      {},
      { streams: [], digest, uploads: 0 },
      { streams: ['not a ts'], digest, uploads: 0 },
      { streams: [1800000001.0001], digest, uploads: 0 },
      { streams: ['1800000001.000100'], uploads: 0 },
      { streams: ['1800000001.000100'], digest, uploads: -1 },
      { streams: ['1800000001.000100'], digest, uploads: 1.5 },
    ])
      expect(slackPlaceOf(bad as Record<string, unknown> | undefined)).toBeUndefined();
  });

  it('tells the text the streams hold from the whole answer, not from trailing blank space', () => {
    expect(digestOf('the whole answer\n\n')).toBe(digestOf('the whole answer'));
    expect(digestOf('the whole answer')).not.toBe(digestOf('the whole answe'));
  });
});
