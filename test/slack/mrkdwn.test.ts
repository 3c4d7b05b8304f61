import { describe, expect, it } from 'vitest';
import { toMrkdwn } from '../../adapters/slack/mrkdwn.js';
import { cleanText } from '../../adapters/slack/inbound.js';

describe('markdown to Slack mrkdwn', () => {
  it.each([
    ['**bold** and __two words__', '*bold* and *two words*'],
    ['call __init__ and __name__ here', 'call __init__ and __name__ here'],
    ['[Foo](https://en.wikipedia.org/wiki/Foo_(bar)) ok', '<https://en.wikipedia.org/wiki/Foo_(bar)|Foo> ok'],
    ['[x](!channel) [y](javascript:alert(1)) [m](mailto:a@b.io)', 'x (!channel) y (javascript:alert(1)) <mailto:a@b.io|m>'],
    ['[https://bank.example](https://evil.example/login)', '<https://evil.example/login|https://bank.example (evil.example)>'],
    ['[a|b](https://x.io/p|q<r>)', '<https://x.io/p%7Cq%3Cr%3E|a¦b>'],
    ['<!channel> and @here and @everyone', '&lt;!channel&gt; and @\u200bhere and @\u200beveryone'],
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
    expect(cleanText('<@U00FAKEBOT01> Can you see <#C00FAKECHAN2|general>? see <https://a.io|A> &amp; <https://b.io>', 'U00FAKEBOT01')).toBe(
      'Can you see #general? see A (https://a.io) & https://b.io',
    );
  });
});
