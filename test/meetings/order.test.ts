import { describe, expect, it } from 'vitest';
import { inTimeOrder } from '../../src/engine/meetings/index.js';

describe('queued meeting lines', () => {
  it('are written in the order they were sent, not the order they were handled', () => {
    expect(inTimeOrder(['1000\t[10:00] Ada: one', '3000\t[10:00] Linus: three', '2000\t[10:00] Grace: two'])).toEqual(['[10:00] Ada: one', '[10:00] Grace: two', '[10:00] Linus: three']);
  });

  it('keep their arrival order when sent in the same millisecond, and a tab inside a line is kept', () => {
    expect(inTimeOrder(['5\tb', '5\ta', '4\tc\twith a tab'])).toEqual(['c\twith a tab', 'b', 'a']);
  });

  it('queued without a time (by an older version) stay after the line before them', () => {
    expect(inTimeOrder(['[09:59] old first', '2000\tsecond', '[10:00] old third', '1000\tzeroth'])).toEqual(['[09:59] old first', 'zeroth', 'second', '[10:00] old third']);
  });
});
