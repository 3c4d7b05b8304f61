import { describe, expect, it } from 'vitest';
import { SlackOutbound } from '../../adapters/slack/outbound.js';
import { bucketOfToken } from '../../adapters/slack/workspaces.js';

const noFetch: typeof fetch = () => Promise.reject(new Error('no calls in this test'));

describe('the outbound scheduler', () => {
  it('with SLACK_RATE_LIMITS=off, a streamed update keeping a share of the budget free still gets its slot', () => {
    // a quarter of an unlimited budget is a huge count: the window must be read, not built (it threw RangeError)
    const outbound = new SlackOutbound(noFetch, { apiUrl: 'http://127.0.0.1/api/', limits: 'unlimited' });
    for (let i = 0; i < 3; i++) expect(outbound.reserve(bucketOfToken('xoxb-1-2-x'), 'chat.appendStream', 0, { headroom: 0.25 })).toBe(true);
  });

  it("with Slack's tiers, keeps the headroom: Tier 4's last quarter is for final texts", () => {
    const outbound = new SlackOutbound(noFetch, { apiUrl: 'http://127.0.0.1/api/' });
    let granted = 0;
    while (outbound.reserve(bucketOfToken('xoxb-1-2-x'), 'chat.appendStream', 0, { headroom: 0.25 })) granted++;
    expect(granted).toBe(75);
    expect(outbound.reserve(bucketOfToken('xoxb-1-2-x'), 'chat.appendStream', 0)).toBe(true); // a final text may use the rest
  });
});
