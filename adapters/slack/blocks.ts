/** Block Kit and chunk pieces the Slack sink sends: feedback buttons, task titles. */

export const FEEDBACK_ACTION = 'threadline_feedback';

/** 👍/👎 under a streamed reply; the block id carries the turn's id for the feedback log line. */
export function feedbackBlock(turnId: string | undefined) {
  const button = (text: string, value: string, label: string) => ({ text: { type: 'plain_text', text, emoji: true }, value, accessibility_label: label });
  return {
    type: 'context_actions',
    block_id: `${FEEDBACK_ACTION}:${(turnId ?? '').slice(0, 200)}`,
    elements: [
      { type: 'feedback_buttons', action_id: FEEDBACK_ACTION, positive_button: button('👍', 'good', 'This answer was helpful'), negative_button: button('👎', 'bad', 'This answer was not helpful') },
    ],
  };
}

export function toolTitle(name: string): string {
  if (name === 'code_interpreter') return 'Running Python code';
  if (name === 'text_to_image') return 'Drawing an image';
  if (name === 'web_search' || name === 'quark_search') return 'Searching the web';
  return `Using ${name.replace(/[^\w .-]/g, '').slice(0, 60)}`;
}
