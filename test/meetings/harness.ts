import type { FakeDashScope } from '../fakes/dashscope.js';

/**
 * A fake model that writes recognisable minutes: checkpoint runs summarise by quoting the first
 * and last lines of their chunk; minutes runs quote the earlier parts (from additional_instructions) and the
 * lines of the last chunk. So a test can see whether early content reached the minutes.
 */
export function minutesModel(ds: FakeDashScope): void {
  ds.model = ({ run, thread }) => {
    const instructions = String(run.body.instructions ?? '');
    const lines = thread.messages.filter((m) => m.role === 'user').flatMap((m) => String(m.content[0].text.value).split('\n'));
    if (instructions.includes('Summarise this part')) return { text: `- part from: ${lines[0]}\n- to: ${lines.at(-1)}` };
    if (instructions.includes('minutes of a meeting')) {
      return { text: `## Summary\nEarlier: ${run.body.additional_instructions ?? 'none'}\nLast part: ${lines.join(' || ')}\n## Decisions\nNone.\n## Action items\nNone.\n## Open questions\nNone.` };
    }
    return { text: `answer to ${lines.at(-1)}` };
  };
}

/** Runs at the fake whose instructions are the minutes or checkpoint prompts. */
export function meetingRuns(ds: FakeDashScope, kind: 'minutes' | 'checkpoint') {
  const needle = kind === 'minutes' ? 'minutes of a meeting' : 'Summarise this part';
  return ds.runCreates().filter((c) => String(c.body?.instructions ?? '').includes(needle));
}
