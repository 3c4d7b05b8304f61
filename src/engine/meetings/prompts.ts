/** What the model is told when it writes minutes and checkpoints. */

export const MINUTES_INSTRUCTIONS = `You are writing the minutes of a meeting held in a team chat.
The thread holds the transcript as lines "[HH:MM] Name: text" (UTC), in order.
Write the minutes in Markdown with exactly these sections:
## Summary
A few sentences on what the meeting covered.
## Decisions
A bullet per decision, or "None."
## Action items
A bullet per task: "**Owner**: task (due: date)", giving a due date only when one was said, or "None."
## Open questions
A bullet per question left open, or "None."
Use only what was said in the meeting. Do not call tools.`;

export const CHECKPOINT_INSTRUCTIONS = `The thread holds part of a meeting transcript as lines "[HH:MM] Name: text" (UTC).
Summarise this part so that it can replace the transcript: keep every topic, decision, action item
(with its owner and any due date), open question, and who said what when it matters.
Plain Markdown bullets, no preamble. Do not call tools.`;

/** Extra instructions for the final minutes: the checkpoints of the earlier parts of the meeting. */
export function earlierParts(checkpoints: string[]): string | undefined {
  if (checkpoints.length === 0) return undefined;
  return `The transcript in this thread is only the last part of the meeting. The earlier parts were summarised as follows; the minutes must cover the whole meeting:\n\n${checkpoints
    .map((c, i) => `### Part ${i + 1}\n${c}`)
    .join('\n\n')}`;
}
