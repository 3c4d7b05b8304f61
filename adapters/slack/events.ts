import type { AllMiddlewareArgs, App, SlackEventMiddlewareArgs } from '@slack/bolt';

export type SlackEventArgs = SlackEventMiddlewareArgs<string> & AllMiddlewareArgs;
export type SlackEventHandler = (args: SlackEventArgs) => Promise<void>;

/**
 * The Events API events Threadline handles, behind one Bolt listener that picks the handler by
 * the event's type. Bolt runs every listener's middleware for every event it receives, spreading
 * the listener arguments at each step: with a listener per type (eight, plus the action and the
 * command) one mention cost 175 µs of Bolt, with one listener 64 µs (`npm run bench`, *Bolt
 * listeners*), about a fifth of taking in a mention during a burst.
 *
 * @example listenToEvents(app, { app_mention: onMention, message: onMessage })
 */
export function listenToEvents(app: App, handlers: Record<string, SlackEventHandler>): void {
  const types = Object.keys(handlers);
  if (types.some((t) => !/^[a-z_]+$/.test(t))) throw new Error(`not a Slack event type: ${types.join(', ')}`);
  app.event(new RegExp(`^(?:${types.join('|')})$`), async (args) => {
    await handlers[args.event.type]?.(args);
  });
}
