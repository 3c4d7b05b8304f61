import { AssistantApiError } from './errors.js';
import type { MessageDelta, StreamEvent } from './types.js';

/**
 * Parses a DashScope SSE body into typed events.
 *
 * Tolerates what the real service and its SDKs do: `event:done` with or without a space, `data:`
 * lines spread over several lines (joined with "\n" per the SSE spec), `:` comments and heartbeat
 * lines, `id:`/`status:` lines, CRLF, `delta.content` as an array or a single object, and event
 * names it does not know (yielded as `unknown`). A stream that ends without `done` is not an
 * error here; the caller decides what a missing terminal event means.
 *
 * @example
 * for await (const ev of parseEventStream(response.body!)) if (ev.event === 'thread.message.delta') …
 */
export async function* parseEventStream(body: AsyncIterable<Uint8Array>, requestId?: string): AsyncGenerator<StreamEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let eventName = '';
  let status: number | undefined;
  let data: string[] = [];

  const flush = function* (): Generator<StreamEvent | 'done'> {
    if (data.length === 0) {
      eventName = '';
      status = undefined;
      return;
    }
    const raw = data.join('\n');
    const name = eventName;
    data = [];
    eventName = '';
    const st = status;
    status = undefined;
    if (name === 'done' || raw.trim() === '[DONE]') {
      yield 'done';
      return;
    }
    yield toEvent(name, raw, st, requestId);
  };

  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      let line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        for (const ev of flush()) {
          if (ev === 'done') return;
          yield ev;
        }
        continue;
      }
      if (line.startsWith(':')) continue; // comment or heartbeat
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') eventName = value.trim();
      else if (field === 'data') data.push(value);
      else if (field === 'status') status = Number(value.trim()) || undefined;
      // `id:`, `retry:` and anything else carry nothing we need
    }
  }
  buffer += decoder.decode();
  if (buffer.trim().startsWith('data')) {
    const v = buffer.trim().slice(buffer.trim().indexOf(':') + 1);
    data.push(v.startsWith(' ') ? v.slice(1) : v);
  }
  for (const ev of flush()) {
    if (ev === 'done') return;
    yield ev;
  }
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
