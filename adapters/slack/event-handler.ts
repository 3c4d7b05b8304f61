import type { App } from '@slack/bolt';
import type { Logger } from '../../src/log.js';

/** Screens an event before Bolt (see startSlack's `screen`): drop it, or pass it on with what the screen learned. */
export type Screen = (body: Record<string, unknown>, replay?: boolean) => Promise<{ drop: true } | { drop: false; context?: Record<string, unknown> }>;

/** Events recorded in the store before they are acknowledged (src/engine/intake.ts). */
export interface EventIntake {
  record(id: string, body: unknown): Promise<string>;
  done(entry: string): Promise<void>;
}

/**
 * An Events API callback that was acknowledged (over HTTP or Socket Mode) after it was recorded:
 * screened, handed to Bolt with a no-op ack, then its intake entry let go. A failure leaves the
 * entry, so the event is replayed once this instance's heartbeat stops.
 */
export async function handleAcknowledgedEvent(
  d: { app: App; screen?: Screen; intake?: EventIntake; log: Logger },
  body: Record<string, unknown>,
  o: { retryNum?: number; retryReason?: string; entry?: string; replay?: boolean } = {},
): Promise<void> {
  try {
    const verdict = d.screen ? await d.screen(body, o.replay) : { drop: false as const };
    if (!verdict.drop) {
      await d.app.processEvent({
        body,
        ack: async () => {},
        retryNum: o.retryNum,
        retryReason: o.retryReason,
        ...(verdict.context ? { customProperties: verdict.context } : {}),
      });
    }
    // handled (the engine answers failures itself): the record of it may go
    if (o.entry) await d.intake?.done(o.entry);
  } catch (err) {
    d.log.error({ err }, 'slack event handler failed');
  }
}
