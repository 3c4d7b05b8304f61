import { AssistantApiError } from './errors.js';
import { parseEventStream, streamError } from './sse.js';
import type { StreamEvent } from './types.js';

/**
 * A streaming run response as an async iterable of typed events. An `error` event becomes an
 * AssistantApiError thrown from the iteration; a body that breaks off becomes `StreamCut`
 * (retryable: the run itself may still be going, so the caller can follow it by polling).
 */
export async function* eventsOf(res: Response): AsyncGenerator<StreamEvent> {
  const requestId = res.headers.get('x-request-id') ?? undefined;
  const type = res.headers.get('content-type') ?? '';
  if (!type.includes('text/event-stream')) {
    // The server answered with plain JSON (a Run): present it as that run's status event.
    const run = (await res.json()) as { status?: string };
    yield { event: `thread.run.${run.status ?? 'created'}`, data: run } as StreamEvent;
    return;
  }
  if (!res.body) return;
  try {
    for await (const ev of parseEventStream(res.body as unknown as AsyncIterable<Uint8Array>, requestId)) {
      if (ev.event === 'error') throw streamError(ev);
      yield ev;
    }
  } catch (err) {
    if (err instanceof AssistantApiError) throw err;
    throw new AssistantApiError({ status: 0, code: 'StreamCut', message: 'the event stream broke off', requestId, cause: err });
  }
}
