/**
 * The burst benchmark's anchor: a plain Bolt app doing the same turn Threadline does, and no
 * more. Bolt's stock HTTP receiver; on a mention it creates a DashScope thread with the message,
 * streams a run on it, and posts the text in the thread with chat.postMessage; the conversation
 * map is a Map in memory. No durable intake, no dedupe, no streaming to Slack, no status.
 * Prints `READY <port>`.
 *
 * argv: <signing secret> <Slack API URL> <bot token> <DashScope base URL> <DashScope key>
 */
import { App, LogLevel } from '@slack/bolt';

const [secret, slackApiUrl, botToken, dashscopeUrl, apiKey] = process.argv.slice(2);
const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };

async function main(): Promise<void> {
  const assistant = (await (await fetch(`${dashscopeUrl}/assistants`, { method: 'POST', headers, body: JSON.stringify({ model: 'qwen-plus', name: 'anchor' }) })).json()) as { id: string };
  const threads = new Map<string, string>();
  const app = new App({ signingSecret: secret, token: botToken, clientOptions: { slackApiUrl }, logLevel: LogLevel.ERROR });
  // the recorded mention arrives as a message event naming the bot, as Slack sends it to apps with message.channels
  app.message(/<@U00FAKEBOT01>/, async ({ message, client }) => {
    const event = message as { channel: string; ts: string; thread_ts?: string; text?: string };
    const where = `${event.channel}:${event.thread_ts ?? event.ts}`;
    let thread = threads.get(where);
    if (!thread) {
      const created = (await (await fetch(`${dashscopeUrl}/threads`, { method: 'POST', headers, body: JSON.stringify({ messages: [{ role: 'user', content: event.text ?? '' }] }) })).json()) as {
        id: string;
      };
      thread = created.id;
      threads.set(where, thread);
    }
    const run = await fetch(`${dashscopeUrl}/threads/${thread}/runs`, { method: 'POST', headers, body: JSON.stringify({ assistant_id: assistant.id, stream: true }) });
    let text = '';
    for (const line of (await run.text()).split('\n')) {
      if (!line.startsWith('data:')) continue;
      try {
        const data = JSON.parse(line.slice(5)) as { object?: string; delta?: { content?: Array<{ text?: { value?: string } }> } };
        if (data.object === 'thread.message.delta') text += data.delta?.content?.[0]?.text?.value ?? '';
      } catch {
        // [DONE] and other non-JSON lines
      }
    }
    await client.chat.postMessage({ channel: event.channel, thread_ts: event.thread_ts ?? event.ts, text });
  });
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  await app.start(port);
  console.log(`READY ${port}`);
}

process.on('SIGINT', () => process.exit(0));
void main();
