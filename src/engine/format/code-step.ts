import type { CodeStep } from '../types.js';

/** Output longer than this is attached as a file instead of shown in the message. */
export const LONG_OUTPUT = 1_500;

/** A fence inside the model's code would close ours early: a zero-width space breaks it. */
function unfence(s: string): string {
  return s.replace(/```/g, '`\u200b``');
}

/**
 * A code interpreter step as Markdown, the one rendering every platform shares: the code in a
 * fence, then its output in another, or a line saying the output is attached when it is long
 * (`attachOutput`: the platform attaches `step.output` as output.txt).
 *
 * @example codeStepMarkdown({ input: 'print(1)', output: '1' }).text // '**Code run**\n```python\nprint(1)\n```\n**Output**\n```\n1\n```'
 */
export function codeStepMarkdown(step: CodeStep, opts: { language?: string; attachments?: boolean; longOutput?: number } = {}): { text: string; attachOutput: boolean } {
  const code = `**Code run**\n\`\`\`${opts.language ?? 'python'}\n${unfence(step.input)}\n\`\`\``;
  const long = opts.longOutput ?? LONG_OUTPUT;
  if (!step.output) return { text: code, attachOutput: false };
  if (step.output.length > long && opts.attachments !== false) {
    return { text: `${code}\n_Output attached (${step.output.length.toLocaleString('en-US')} characters)._`, attachOutput: true };
  }
  const output = step.output.length > long ? `${step.output.slice(0, long)}\n…` : step.output;
  return { text: `${code}\n**Output**\n\`\`\`\n${unfence(output)}\n\`\`\``, attachOutput: false };
}
