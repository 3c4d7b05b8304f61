import { describe, expect, it } from 'vitest';
import { toMrkdwn } from '../../adapters/slack/mrkdwn.js';
import { cleanText } from '../../adapters/slack/inbound.js';

describe('markdown to Slack mrkdwn', () => {
  it.each([
    ['**bold** and __bold__', '*bold* and *bold*'],
    ['*italic* and _italic_', '_italic_ and _italic_'],
    ['***both***', '*_both_*'],
    ['~~gone~~', '~gone~'],
    ['[docs](https://example.com/a?b=1&c=2)', '<https://example.com/a?b=1&c=2|docs>'],
    ['# Title\n## Sub', '*Title*\n*Sub*'],
    ['- one\n- two\n  * nested', '• one\n• two\n  • nested'],
    ['1. first\n2. second', '1. first\n2. second'],
    ['a < b & c > d', 'a &lt; b &amp; c &gt; d'],
    ['> quoted', '> quoted'],
    ['`**not bold**` here', '`**not bold**` here'],
    ['```python\nx = 2 ** 3  # <b>\n```', '```\nx = 2 ** 3  # &lt;b&gt;\n```'],
    ['see <https://x.io>', 'see <https://x.io>'],
  ])('%j', (md, expected) => {
    expect(toMrkdwn(md)).toBe(expected);
  });
});

describe('Slack text for the model', () => {
  it('removes the mention and unwraps links, channels and entities', () => {
    expect(cleanText('<@U00FAKEBOT01> Can you see <#C00FAKECHAN2|general>? see <https://a.io|A> &amp; <https://b.io>', 'U00FAKEBOT01')).toBe('Can you see #general? see A (https://a.io) & https://b.io');
  });
});
