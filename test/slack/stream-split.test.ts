import { describe, expect, it } from 'vitest';
import { STREAM_MESSAGE_LIMIT, messageEnd } from '../../adapters/slack/message-size.js';
import { fenceAcross } from '../../src/engine/format/split.js';

describe('where a streamed Slack message ends', () => {
  it('takes all of a text that fits, else breaks at a paragraph, else a line, else a space', () => {
    expect(messageEnd('short', 0)).toEqual({ end: 5, full: false });
    const para = `${'a'.repeat(7_000)}\n\n${'b '.repeat(4_000)}`;
    expect(messageEnd(para, 0)).toEqual({ end: 7_002, full: true });
    const lines = `${'a'.repeat(7_000)}\n${'b '.repeat(4_000)}`;
    expect(messageEnd(lines, 0)).toEqual({ end: 7_001, full: true });
    const words = 'word '.repeat(3_000);
    const { end } = messageEnd(words, 0);
    expect(words[end - 1]).toBe(' ');
    expect(end).toBeLessThanOrEqual(STREAM_MESSAGE_LIMIT);
    expect(messageEnd('x'.repeat(15_000), 100).end - 100).toBeLessThanOrEqual(STREAM_MESSAGE_LIMIT);
  });

  it('closes a code block open at the cut and reopens it with its language', () => {
    const text = 'intro\n```ts\nconst a = 1;\nconst b = 2;\n```\nafter';
    const at = text.indexOf('const b');
    expect(fenceAcross(text, at)).toEqual({ close: '\n```', reopen: '```ts\n', skip: 0 });
    expect(fenceAcross(text, text.indexOf('intro') + 6)).toBeUndefined();
    expect(fenceAcross(text, text.indexOf('after'))).toBeUndefined();
  });

  it("keeps the block's own closing line in the message when it comes right after the cut", () => {
    const text = 'intro\n~~~\ncode\n~~~\nafter';
    const at = text.indexOf('~~~\nafter');
    expect(fenceAcross(text, at)).toEqual({ close: '~~~\n', reopen: '', skip: 4 });
  });
});
