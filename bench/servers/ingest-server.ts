/**
 * One Slack ingest server for the ingest benchmark, in its own process:
 *   threadline  Threadline's Hono receiver + Bolt + routing + Redis dedupe
 *   bolt        Bolt's stock HTTP receiver (`new App({ signingSecret, token })`, its own server), a no-op listener
 *   floor       plain node:http that only verifies the signature and parses the JSON
 * Prints `READY <port>` when listening.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySlackSignature } from '../../adapters/slack/verify.js';

const [kind, secret, redisUrl, prefix] = process.argv.slice(2);

async function main(): Promise<void> {
  if (kind === 'floor') {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const ok = verifySlackSignature(secret, { timestamp: req.headers['x-slack-request-timestamp'] as string, signature: req.headers['x-slack-signature'] as string }, raw);
        if (!ok.ok) return res.writeHead(401).end();
        try {
          JSON.parse(raw);
        } catch {
          return res.writeHead(400).end();
        }
        res.writeHead(200).end();
      });
    });
    server.listen(0, '127.0.0.1', () => console.log(`READY ${(server.address() as AddressInfo).port}`));
    return;
  }
  const { FakeSlack } = await import('../../test/fakes/slack.js');
  const slack = await new FakeSlack().start();
  if (kind === 'bolt') {
    const { App, LogLevel } = await import('@slack/bolt');
    const app = new App({ signingSecret: secret, token: slack.botToken, botId: slack.botId, botUserId: slack.botUserId, clientOptions: { slackApiUrl: slack.apiUrl }, logLevel: LogLevel.ERROR });
    app.event('message', async () => {});
    app.event('app_mention', async () => {});
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    await app.start(port);
    console.log(`READY ${port}`);
    return;
  }
  const { FakeDashScope } = await import('../../test/fakes/dashscope.js');
  const { startThreadline } = await import('../../src/app.js');
  const { loadConfig } = await import('../../src/config.js');
  const { silentLogger } = await import('../../src/log.js');
  const ds = await new FakeDashScope().start();
  const config = loadConfig(
    {
      PORT: '0',
      HOST: '127.0.0.1',
      DASHSCOPE_API_KEY: ds.apiKey,
      DASHSCOPE_BASE_URL: ds.url,
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_SIGNING_SECRET: secret,
      SLACK_API_URL: slack.apiUrl,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: prefix,
      TOOLS_DIR: '/nonexistent',
      LOG_LEVEL: 'silent',
    },
    null,
  );
  const app = await startThreadline(config, { log: silentLogger });
  // The load stands for redeliveries of messages already answered: claim them as the first delivery would have.
  const { ingestBodies } = await import('../slack-events.js');
  for (const raw of ingestBodies(200, 'mention')) {
    const body = JSON.parse(raw) as { team_id: string; event: { channel: string; ts: string } };
    await app.engine.claimEvent(`slack:${body.team_id}:${body.event.channel}:${body.event.ts}`);
  }
  console.log(`READY ${app.port}`);
}

process.on('SIGINT', () => process.exit(0));
void main();
