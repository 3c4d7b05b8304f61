import { AssistantApiError } from './errors.js';
import { parseEventStream, streamError } from './sse.js';
import type { StreamEvent } from './types.js';
import type { Received } from '../net/exchange.js';

/**
 * A streaming run response as an async iterable of typed events. An `error` event becomes an
 * AssistantApiError thrown from the iteration; a body that breaks off becomes `StreamCut`
 * (retryable: the run itself may still be going, so the caller can follow it by polling); an
 * aborted signal ends it with `Aborted`.
 */
export async function* eventsOf(res: Received, signal?: AbortSignal): AsyncGenerator<StreamEvent> {
  const requestId = res.headers.get('x-request-id') ?? undefined;
  const type = res.headers.get('content-type') ?? '';
  if (!type.includes('text/event-stream')) {
    // The server answered with plain JSON (a Run): present it as that run's status event.
    const run = (await res.json()) as { status?: string };
    yield { event: `thread.run.${run.status ?? 'created'}`, data: run } as StreamEvent;
    return;
  }
  try {
    for await (const ev of parseEventStream(res.body, requestId)) {
      if (ev.event === 'error') throw streamError(ev);
      // events already buffered when the signal fired are not handed out
      if (signal?.aborted) throw new AssistantApiError({ status: 0, code: 'Aborted', message: 'stream aborted', requestId });
      yield ev;
    }
  } catch (err) {
    if (err instanceof AssistantApiError) throw err;
    if (signal?.aborted) throw new AssistantApiError({ status: 0, code: 'Aborted', message: 'stream aborted', requestId, cause: err });
    throw new AssistantApiError({ status: 0, code: 'StreamCut', message: 'the event stream broke off', requestId, cause: err });
  }
}
