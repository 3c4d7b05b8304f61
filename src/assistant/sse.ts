import { createParser } from 'eventsource-parser';
import { AssistantApiError } from './errors.js';
import type { MessageDelta, StreamEvent } from './types.js';

/**
 * Parses a DashScope SSE body into typed events, with eventsource-parser doing the SSE framing.
 *
 * Tolerates what the real service and its SDKs do: `event:done` with or without a space, `data:`
 * lines spread over several lines (joined with "\n" per the SSE spec), `:` comments and heartbeat
 * lines, `id:` lines, CRLF, `delta.content` as an array or a single object, and event names it
 * does not know (yielded as `unknown`). DashScope also sends a `status:` line with `event:error`
 * (the error's HTTP status): not an SSE field, so the parser reports it as unknown and it is kept
 * for the event it precedes. A stream that ends without `done` is not an error here, and the last
 * event counts even when the blank line after it never came; the caller decides what a missing
 * terminal event means.
 *
 * @example
 * for await (const ev of parseEventStream(response.body!)) if (ev.event === 'thread.message.delta') …
 */
export async function* parseEventStream(body: AsyncIterable<Uint8Array>, requestId?: string): AsyncGenerator<StreamEvent> {
  const decoder = new TextDecoder();
  let ready: StreamEvent[] = [];
  let status: number | undefined;
  let done = false;
  const parser = createParser({
    onEvent: (m) => {
      const st = status;
      status = undefined;
      if (done) return;
      if (m.event?.trim() === 'done' || m.data.trim() === '[DONE]') {
        done = true;
        return;
      }
      ready.push(toEvent(m.event?.trim() ?? '', m.data, st, requestId));
    },
    onError: (err) => {
      if (err.type === 'unknown-field' && err.field === 'status') status = Number(err.value?.trim()) || undefined;
      // other unknown fields (and a bad `retry:`) carry nothing we need
    },
  });
  const drain = function* (): Generator<StreamEvent> {
    const out = ready;
    ready = [];
    yield* out;
  };
  for await (const chunk of body) {
    parser.feed(decoder.decode(chunk, { stream: true }));
    yield* drain();
    if (done) return;
  }
  // cut off before the blank line that ends the last event: what was sent of it still counts
  parser.feed(`${decoder.decode()}\n\n`);
  yield* drain();
}

function toEvent(name: string, raw: string, status: number | undefined, requestId?: string): StreamEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    if (name === 'error') {
      return { event: 'error', data: { code: 'Unknown', message: raw.slice(0, 300), request_id: requestId }, status };
    }
    return { event: 'unknown', name, data: raw };
  }
  if (name === 'error') {
    const d = (parsed ?? {}) as { code?: string; message?: string; request_id?: string };
    return { event: 'error', data: d, status: status ?? 400 };
  }
  if (name === 'thread.message.delta') return { event: name, data: normaliseMessageDelta(parsed) };
  if (KNOWN.has(name)) return { event: name, data: parsed } as StreamEvent;
  // Some streams name the object instead of the event; infer from `object` when the name is absent.
  if (!name && parsed && typeof parsed === 'object' && 'object' in parsed) {
    const obj = parsed.object;
    if (obj === 'thread.message.delta') return { event: 'thread.message.delta', data: normaliseMessageDelta(parsed) };
  }
  return { event: 'unknown', name, data: parsed };
}

function normaliseMessageDelta(parsed: unknown): MessageDelta {
  const d = (parsed ?? {}) as { id?: string; delta?: { role?: string; content?: unknown } };
  const content = d.delta?.content;
  const parts = Array.isArray(content) ? content : content && typeof content === 'object' ? [content] : [];
  return {
    id: d.id ?? '',
    object: 'thread.message.delta',
    delta: { role: d.delta?.role, content: parts as MessageDelta['delta']['content'] },
  };
}

/** Concatenated text of a message delta. */
export function deltaText(delta: MessageDelta): string {
  let out = '';
  for (const part of delta.delta.content) if (part?.text && typeof part.text.value === 'string') out += part.text.value;
  return out;
}

const KNOWN = new Set<string>([
  'thread.created',
  ...['created', 'queued', 'in_progress', 'requires_action', 'completed', 'failed', 'cancelling', 'cancelled', 'expired', 'incomplete'].map((s) => `thread.run.${s}`),
  ...['created', 'in_progress', 'completed', 'failed', 'cancelled', 'expired', 'delta'].map((s) => `thread.run.step.${s}`),
  ...['created', 'in_progress', 'completed', 'incomplete'].map((s) => `thread.message.${s}`),
]);

/** Turns an `error` stream event into the client's error type. */
export function streamError(ev: Extract<StreamEvent, { event: 'error' }>): AssistantApiError {
  return new AssistantApiError({
    status: ev.status ?? 400,
    code: ev.data.code || 'Unknown',
    message: ev.data.message || 'stream error',
    requestId: ev.data.request_id,
  });
}
