import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeDiscord } from '../fakes/discord.js';
import { FakeFileHost } from '../fakes/file-host.js';
import { PNG } from '../fakes/image-server.js';
import { FakeResponses } from '../fakes/responses.js';
import { FakeSlack } from '../fakes/slack.js';
import { SIGNING_SECRET, boot, fakeEnv, fixture, postSlack, discordDm } from '../app-harness.js';

/**
 * Issue 18: a Discord DM attachment (from the CDN, signed URL, no token) reaches the Assistant
 * API; on the Responses backend a CSV is read inline and a picture goes as input_image, and a PDF
 * is refused with a line (DashScope documents no input_file there).
 */
const recordedSlack = fixture('streaming-slack.json').aiMentionWithFile;
const CSV = Buffer.from('item,qty\napples,3\npears,5\n');

/** An attachment as Discord sends it on MESSAGE_CREATE (id, filename, size, url with its signed query, proxy_url, content_type). */
function attachment(id: string, url: string, filename: string, size: number, contentType: string) {
  return { id, filename, size, url: `${url}?ex=6a1b2c3d&is=6a19d9bd&hm=0f1e2d3c4b5a69788796a5b4c3d2e1f0`, proxy_url: url, content_type: contentType };
}

describe('a Discord DM with an attachment, on the Assistant API', () => {
  let ds: FakeDashScope;
  let discord: FakeDiscord;
  let cdn: FakeFileHost;
  let app: Threadline;
  beforeAll(async () => {
    [ds, discord, cdn] = await Promise.all([new FakeDashScope().start(), new FakeDiscord().start(), new FakeFileHost().start()]);
    ds.model = ({ newUserMessages }) => ({ text: `You said: ${newUserMessages.join(' | ')}` });
    app = await boot({ ...fakeEnv({ ds, discord }), DISCORD_GUILD_ID: discord.guildId, DISCORD_CDN_HOSTS: cdn.host });
  });
  afterAll(async () => {
    await app?.stop(1_000);
    await Promise.all([ds.stop(), discord.stop(), cdn.stop()]);
  });

  it('reaches DashScope byte for byte, named by file id, fetched without any token', async () => {
    const url = cdn.put('/attachments/1460000000000000031/1461111111111111111/stock.csv', CSV, 'text/csv');
    discord.dispatch(
      'MESSAGE_CREATE',
      discordDm(discord.nextId(), '1460000000000000031', 'how many fruits?', { attachments: [attachment('1461111111111111111', url, 'stock.csv', CSV.length, 'text/csv; charset=utf-8')] }),
    );
    await discord.rest.waitFor((c) => c.method === 'POST' && c.route === '/channels/1460000000000000031/messages', 10_000);
    await app.discord!.idle();
    expect(cdn.requests).toHaveLength(1);
    expect(cdn.requests[0].headers.authorization).toBeUndefined();
    const [fileId, stored] = [...ds.files.entries()].at(-1)!;
    expect(stored).toMatchObject({ name: 'stock.csv' });
    expect(stored.bytes.equals(CSV)).toBe(true);
    expect(ds.messageCreates().at(-1)!.body.file_ids).toEqual([fileId]);
    const reply = discord.rest.filter((c) => c.method === 'POST' && c.route === '/channels/1460000000000000031/messages').at(-1)!;
    expect(JSON.stringify(reply.body)).toMatch(/how many fruits\?/);
  });

  it("the code interpreter's chart arrives as a Discord attachment with its bytes", async () => {
    const chart = Buffer.concat([PNG, Buffer.from('discord-chart')]);
    ds.model = () => ({ codeInterpreter: { input: 'plot', output: 'ok', image: { name: 'chart.png', bytes: chart, contentType: 'image/png' } }, text: 'Chart attached.' });
    discord.dispatch('MESSAGE_CREATE', discordDm(discord.nextId(), '1460000000000000032', 'plot the stock'));
    // the streamed reply's last edit carries the attachment
    const posted = await discord.rest.waitFor((c) => c.route.startsWith('/channels/1460000000000000032/messages') && c.files.length > 0, 10_000);
    await app.discord!.idle();
    expect(posted.files[0].name).toBe('chart.png');
    expect(posted.files[0].bytes.equals(chart)).toBe(true);
  });
});

describe('files on the Responses backend', () => {
  let rs: FakeResponses;
  let slack: FakeSlack;
  let app: Threadline;
  let n = 0;
  const mentionWith = (files: unknown[], text: string) => {
    const ts = `17703${String(++n).padStart(5, '0')}.000100`;
    return { ...recordedSlack, event_id: `EvRF${n}`, event: { ...recordedSlack.event, ts, event_ts: ts, text: `<@U00FAKEBOT01> ${text}`, files } };
  };
  beforeAll(async () => {
    [rs, slack] = await Promise.all([new FakeResponses().start(), new FakeSlack().start()]);
    app = await boot(
      {
        DASHSCOPE_API: 'responses',
        DASHSCOPE_API_KEY: rs.apiKey,
        DASHSCOPE_BASE_URL: rs.baseUrl,
        ASSISTANT_TOOLS: 'code_interpreter',
        SLACK_BOT_TOKEN: slack.botToken,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_API_URL: slack.apiUrl,
        SLACK_FILES_HOSTS: slack.url.replace('http://', ''),
      },
      { testing: { slackRateLimits: 'unlimited', responsesRetries: 1, webApiRetries: 0, editIntervalMs: 20 } },
    );
  });
  afterAll(async () => {
    await app?.stop(1_000);
    await Promise.all([rs.stop(), slack.stop()]);
  });

  it('a CSV is read inline, a picture goes as input_image, a PDF is refused with a line; the stored history keeps no image bytes', async () => {
    const ev = mentionWith(
      [slack.shareFile('stock.csv', CSV, 'text/csv'), slack.shareFile('chart.png', PNG, 'image/png'), slack.shareFile('report.pdf', Buffer.from('%PDF-1.7'), 'application/pdf')],
      'compare these',
    );
    await postSlack(app.url, ev);
    await app.slack!.idle();
    const input = rs.creates().at(-1)!.body.input as Array<{ role?: string; content?: Array<{ type: string; text?: string; image_url?: string }> }>;
    const content = input.filter((i) => i.role === 'user').at(-1)!.content!;
    expect(content[0].text).toContain('--- stock.csv (text/csv) ---\nitem,qty\napples,3\npears,5\n');
    expect(content[1]).toEqual({ type: 'input_image', image_url: `data:image/png;base64,${PNG.toString('base64')}` });
    expect(content).toHaveLength(2);
    const seen = slack.visible(ev.event.channel, ev.event.ts).join('\n');
    expect(seen).toMatch(/I could not read report\.pdf: this assistant \(on the Responses API\) reads text, data and images only/);
    const rec = await app.engine.conversations.get(`slack:T00FAKE00BB:${ev.event.channel}:${ev.event.ts}`);
    expect(JSON.stringify(rec!.state)).not.toContain(PNG.toString('base64'));
    expect(JSON.stringify(rec!.state)).toContain('images shared earlier: chart.png');
  });
});
