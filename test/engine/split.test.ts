import { describe, expect, it } from 'vitest';
import { openFenceAtEnd, splitMessage } from '../../src/engine/format/split.js';

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
    expect(parts.map((p) => p.length)).toEqual([1996, 1996, 508]);
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
