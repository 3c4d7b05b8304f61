/**
 * What Bolt costs per event depending on how listeners are registered: Bolt runs every listener's
 * middleware for every event, so a listener per event type (the layout before listenToEvents:
 * eight event types, a button action and a slash command) against one listener for the event
 * types (adapters/slack/events.ts) beside the same action and command. The recorded mention goes
 * through App.processEvent; no network: the token is given, so nothing is authorized remotely.
 */
import { App, type Receiver } from '@slack/bolt';
import { listenToEvents, type SlackEventHandler } from '../adapters/slack/events.js';
import { fixture } from '../test/app-harness.js';
import { log, round } from './lib.js';

const TYPES = [
  'app_mention',
  'message',
  'assistant_thread_context_changed',
  'assistant_thread_started',
  'app_home_opened',
  'app_context_changed',
  'agent_session_stopped',
  'agent_session_title_changed',
];

export interface BoltListenersResult {
  layout: string;
  listeners: number;
  usPerEvent: number;
  cpuUsPerEvent: number;
}

function app(oneListener: boolean): { app: App; handled: () => number } {
  const receiver: Receiver = { init: () => {}, start: async () => undefined, stop: async () => undefined };
  const a = new App({ receiver, token: 'xoxb-bench', botId: 'B00FAKEBOT1', botUserId: 'U00FAKEBOT01', ignoreSelf: true, tokenVerificationEnabled: false });
  let handled = 0;
  const handler: SlackEventHandler = async () => void handled++;
  if (oneListener) listenToEvents(a, Object.fromEntries(TYPES.map((t) => [t, handler])));
  else for (const t of TYPES) a.event(t, handler);
  a.action('feedback', async () => {});
  a.command('/assistant', async () => {});
  return { app: a, handled: () => handled };
}

export async function benchBoltListeners(events = 20_000): Promise<BoltListenersResult[]> {
  const mention = fixture('slack.json').mention as Record<string, unknown> & { event: Record<string, unknown> };
  const rows: BoltListenersResult[] = [];
  for (const one of [false, true, false, true]) {
    const { app: a, handled } = app(one);
    const send = () => a.processEvent({ body: { ...mention, event: { ...mention.event } }, ack: async () => {} });
    for (let i = 0; i < 2_000; i++) await send(); // warm up
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < events; i++) await send();
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    if (handled() !== events + 2_000) throw new Error(`the mention reached the handler ${handled()} times`);
    rows.push({
      layout: one ? 'one listener for the event types' : 'a listener per event type',
      listeners: one ? 3 : TYPES.length + 2,
      usPerEvent: round((wall * 1000) / events, 1),
      cpuUsPerEvent: round((cpu.user + cpu.system) / events, 1),
    });
    log(`bolt listeners: ${JSON.stringify(rows.at(-1))}`);
  }
  // the second pass of each layout (warmer): what the table reports
  return rows.slice(2);
}
