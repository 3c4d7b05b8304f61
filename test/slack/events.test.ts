import { App, type Receiver } from '@slack/bolt';
import { describe, expect, it } from 'vitest';
import { listenToEvents } from '../../adapters/slack/events.js';
import { fixture } from '../app-harness.js';

function bolt(): App {
  const receiver: Receiver = { init: () => {}, start: async () => undefined, stop: async () => undefined };
  return new App({ receiver, token: 'xoxb-test', botId: 'B00FAKEBOT1', botUserId: 'U00FAKEBOT01', tokenVerificationEnabled: false });
}

describe('listenToEvents: one Bolt listener for the event types Threadline handles', () => {
  it('hands each event to the handler of its type, and no other', async () => {
    const app = bolt();
    const seen: string[] = [];
    listenToEvents(app, { app_mention: async ({ event }) => void seen.push(`mention ${event.type}`), message: async ({ event }) => void seen.push(`message ${event.type}`) });
    const mention = fixture('channel-slack.json').mention as { event: Record<string, unknown> }; // app_mention
    const message = fixture('slack.json').mention as { event: Record<string, unknown> }; // a message event
    await app.processEvent({ body: mention, ack: async () => {} });
    // a type that only starts like a handled one is not handled
    await app.processEvent({ body: { ...mention, event: { ...mention.event, type: 'app_mentioned' } }, ack: async () => {} });
    await app.processEvent({ body: message, ack: async () => {} });
    expect(seen).toEqual(['mention app_mention', 'message message']);
  });

  it('refuses a name that is not an event type (it would be read as a pattern)', () => {
    expect(() => listenToEvents(bolt(), { 'app_mention|.*': async () => {} })).toThrow(/not a Slack event type/);
  });
});
