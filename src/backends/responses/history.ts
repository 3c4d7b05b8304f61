/** One item of a conversation's history, as Threadline stores it (and replays it to the Responses API). */
export type HistoryItem =
  /** `images`: data URLs of images the person shared, sent until the turn is answered, then left as a line of text (never stored at length). */
  | { type: 'message'; role: 'user' | 'assistant'; text: string; images?: Array<{ name: string; url: string }> }
  | { type: 'function_call'; call_id: string; name: string; arguments: string }
  | { type: 'function_call_output'; call_id: string; output: string };

function size(item: HistoryItem): number {
  switch (item.type) {
    case 'message':
      return item.text.length;
    case 'function_call':
      return item.name.length + item.arguments.length;
    case 'function_call_output':
      return item.output.length;
  }
}

/**
 * The newest part of a history that fits `budget` characters. Whole turns are dropped, oldest
 * first (a turn starts at a person's message), the way the Assistant API truncates a thread; the
 * newest turn is always kept whole, so the model never sees a tool output without its call.
 *
 * @example fitHistory(items, 60_000) // what is replayed when the server forgot the conversation
 */
export function fitHistory(items: HistoryItem[], budget: number): HistoryItem[] {
  let total = items.reduce((n, i) => n + size(i), 0);
  let from = 0;
  while (total > budget) {
    // the start of the next turn after `from`
    let next = from + 1;
    while (next < items.length && !(items[next].type === 'message' && (items[next] as { role: string }).role === 'user')) next++;
    if (next >= items.length) break; // only the newest turn is left
    for (let i = from; i < next; i++) total -= size(items[i]);
    from = next;
  }
  return from === 0 ? items : items.slice(from);
}

/** The history with shared images reduced to a line naming them: what is stored once a turn is answered. */
export function withoutImages(items: HistoryItem[]): HistoryItem[] {
  return items.map((i) => (i.type === 'message' && i.images?.length ? { type: 'message', role: i.role, text: `${i.text}\n[images shared earlier: ${i.images.map((m) => m.name).join(', ')}]` } : i));
}

/** History items in the Responses API's input shape. */
export function toInput(items: HistoryItem[]): unknown[] {
  return items.map((i) => {
    if (i.type === 'message')
      return {
        type: 'message',
        role: i.role,
        content: i.role === 'user' ? [{ type: 'input_text', text: i.text }, ...(i.images ?? []).map((img) => ({ type: 'input_image', image_url: img.url }))] : i.text,
      };
    if (i.type === 'function_call') return { type: 'function_call', call_id: i.call_id, name: i.name, arguments: i.arguments };
    return { type: 'function_call_output', call_id: i.call_id, output: i.output };
  });
}
