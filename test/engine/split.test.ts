import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SPLIT_OVERHEAD, capMessages, fenceAcross, openFenceAtEnd, splitMessage } from '../../src/engine/format/split.js';

function fencesBalanced(chunk: string): boolean {
  return openFenceAtEnd(chunk) === undefined;
}

describe('splitting long replies', () => {
  it('keeps short text whole', () => {
    expect(splitMessage('hello', 2000)).toEqual(['hello']);
  });

  it('splits 5,000 characters of prose at paragraph boundaries under the limit', () => {
    const para = 'word '.repeat(80).trim();
    const text = Array.from({ length: 12 }, (_, i) => `${i}: ${para}`).join('\n\n');
    const parts = splitMessage(text, 2000);
    expect(parts.length).toBeGreaterThan(2);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(2000);
    expect(parts.join('\n\n')).toBe(text);
  });

  it('closes a code fence cut in two and reopens it with its language', () => {
    const code = Array.from({ length: 120 }, (_, i) => `print("line ${i}")`).join('\n');
    const text = `Intro\n\n\`\`\`python\n${code}\n\`\`\`\n\nOutro`;
    const parts = splitMessage(text, 1000);
    expect(parts.length).toBeGreaterThan(2);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(1000);
      expect(fencesBalanced(p)).toBe(true);
    }
    expect(parts[1].startsWith('```python\n')).toBe(true);
    const rejoined = parts.join('\n').replace(/\n```\n```python\n/g, '\n');
    expect(rejoined.replace(/\s+/g, ' ')).toBe(text.replace(/\s+/g, ' '));
  });

  it('hard-cuts a single huge word', () => {
    const parts = splitMessage('x'.repeat(4500), 2000);
    expect(parts.map((p) => p.length)).toEqual([1991, 1991, 518]);
    expect(parts.join('')).toBe('x'.repeat(4500));
  });
});

describe('hostile replies (issue 19: the splitter crash loop)', () => {
  it('an opening fence line longer than the budget is text, and the split ends', () => {
    for (const limit of [2000, 3500]) {
      const text = '```' + 'a'.repeat(limit + 500) + '\nbody\n```';
      const parts = splitMessage(text, limit);
      expect(parts.length).toBeLessThanOrEqual(3);
      for (const p of parts) expect(p.length).toBeLessThanOrEqual(limit);
    }
  });

  it('a one-line fenced span of 2,100 characters is two Discord messages, not 68', () => {
    const text = '```' + 'x'.repeat(2100) + '```';
    const parts = splitMessage(text, 2000);
    expect(parts).toHaveLength(2);
    expect(parts.join('')).toBe(text);
  });

  it('a reopened fence is its marker and a short language tag at most', () => {
    const info = 'python ' + 'attr="v" '.repeat(15);
    const text = '```' + info + '\n' + 'print(1)\n'.repeat(400) + '```';
    const parts = splitMessage(text, 2000);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts.slice(1)) expect(p.split('\n')[0]).toBe('```python');
    expect(fenceAcross(text, 1500)?.reopen).toBe('```python\n');
  });

  it('a marker of thousands of backticks is text', () => {
    const text = '`'.repeat(5000) + '\n' + 'y'.repeat(3000);
    const parts = splitMessage(text, 2000);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(2000);
    expect(parts.join('').replace(/\n/g, '')).toBe(text.replace(/\n/g, ''));
  });

  const hostile = fc.array(
    fc.oneof(
      fc.constantFrom('```', '~~~', '````', '```python', '```' + 'q'.repeat(2500), '`'.repeat(300), '\n', '\n\n', ' ', '```x```', '  ```js'),
      fc.string({ maxLength: 60 }),
      fc.string({ unit: fc.constantFrom('`', '~', '\n', ' ', 'a'), maxLength: 400 }),
      fc.constant('z'.repeat(2100)),
    ),
    { maxLength: 40 },
  );

  it('property: the split always ends, every message fits, and output ≤ input plus a small constant per message', () => {
    fc.assert(
      fc.property(
        hostile.map((p) => p.join('')),
        fc.constantFrom(200, 2000, 3500),
        (text, limit) => {
          const parts = splitMessage(text, limit);
          for (const p of parts) expect(p.length).toBeLessThanOrEqual(limit);
          const total = parts.reduce((n, p) => n + p.length, 0);
          expect(total).toBeLessThanOrEqual(text.length + SPLIT_OVERHEAD * parts.length);
          // no message is blank, and no text is lost (whitespace aside, fences we added aside)
          const letters = (s: string) => s.replace(/[^a-zA-Z0-9]/g, '').length;
          expect(parts.reduce((n, p) => n + letters(p), 0)).toBeGreaterThanOrEqual(letters(text));
          expect(parts.length).toBeLessThanOrEqual(Math.ceil(text.length / (limit * 0.25)) + 1);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('caps the messages of one reply and says the rest is attached', () => {
    const chunks = Array.from({ length: 30 }, (_, i) => `part ${i}`);
    const { shown, overflow } = capMessages(chunks, 8);
    expect(overflow).toBe(true);
    expect(shown).toHaveLength(8);
    expect(shown.at(-1)).toMatch(/attached as answer\.md/);
    expect(capMessages(chunks.slice(0, 8), 8)).toEqual({ shown: chunks.slice(0, 8), overflow: false });
  });
});

describe('the edit throttle', async () => {
  const { EditThrottle } = await import('../../src/engine/format/throttle.js');
  it('shows the first text at once, then only the newest, and nothing after settle', async () => {
    const shown: string[] = [];
    let finishShow!: () => void;
    const t = new EditThrottle(60_000, async (text) => {
      shown.push(text);
      await new Promise<void>((r) => (finishShow = r));
    });
    t.push('a');
    t.push('ab');
    t.push('abc');
    expect(shown).toEqual(['a']); // one update in progress; the rest wait
    const settled = t.settle();
    finishShow();
    await settled;
    t.push('abcd');
    expect(shown).toEqual(['a']); // closed: the final text is the caller's to show
  });
});
