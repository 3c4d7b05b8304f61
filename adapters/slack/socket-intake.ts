import type { App, SocketModeReceiver } from '@slack/bolt';
import type { Logger } from '../../src/log.js';
import { PendingWork } from '../../src/pending-work.js';
import { handleAcknowledgedEvent, type EventIntake, type Screen } from './event-handler.js';

interface SocketEventArgs {
  ack: (payload?: unknown) => Promise<void>;
  body: Record<string, unknown>;
  retry_num?: number;
  retry_reason?: string;
}

/**
 * Socket Mode with the same promise as HTTP: an Events API envelope is acknowledged only once it
 * is recorded in the store. Bolt's SocketModeReceiver acknowledges events inside `processEvent`,
 * before any middleware could record them, so its `slack_event` handler is taken off the client
 * and kept for everything that is not an event (slash commands, interactivity: their ack carries
 * the answer); events are recorded, acknowledged, then screened and handed to Bolt. An envelope
 * the store cannot record, or that arrives while Threadline stops, is not acknowledged: Slack
 * sends it again (to this connection or another instance's).
 */
export function durableSocketEvents(
  receiver: SocketModeReceiver,
  d: { app: App; screen?: Screen; intake?: EventIntake; log: Logger; accepting?: () => boolean; onEvent?: (body: Record<string, unknown>) => void },
): { replay: (body: Record<string, unknown>, entry: string) => Promise<void>; idle: () => Promise<void> } {
  const work = new PendingWork();
  const bolt = receiver.client.listeners('slack_event') as Array<(args: SocketEventArgs) => Promise<void>>;
  receiver.client.removeAllListeners('slack_event');
  receiver.client.on('slack_event', (args: SocketEventArgs) => {
    d.onEvent?.(args.body);
    if (args.body?.type !== 'event_callback') {
      for (const handle of bolt) void work.track(handle(args));
      return;
    }
    void work.track(
      (async () => {
        if (d.accepting && !d.accepting()) return; // not acknowledged: Slack sends it again
        let entry: string | undefined;
        if (d.intake) {
          try {
            entry = await d.intake.record(typeof args.body.event_id === 'string' ? args.body.event_id : '', args.body);
          } catch (err) {
            d.log.warn({ err }, 'could not record a Slack event before acknowledging it; Slack will send it again');
            return;
          }
        }
        try {
          await args.ack();
        } catch (err) {
          // the connection went: Slack sends it again, and the engine's marks keep the answer to one
          d.log.warn({ err }, 'could not acknowledge a Socket Mode envelope');
        }
        await handleAcknowledgedEvent({ app: d.app, screen: d.screen, intake: d.intake, log: d.log }, args.body, { entry, retryNum: args.retry_num, retryReason: args.retry_reason });
      })(),
    );
  });
  return {
    replay: (body, entry) => work.track(handleAcknowledgedEvent({ app: d.app, screen: d.screen, intake: d.intake, log: d.log }, body, { entry, replay: true })),
    idle: () => work.idle(),
  };
}
