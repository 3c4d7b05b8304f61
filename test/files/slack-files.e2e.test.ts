import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Threadline } from '../../src/app.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { FakeFileHost } from '../fakes/file-host.js';
import { FakeSlack } from '../fakes/slack.js';
import { PNG } from '../fakes/image-server.js';
import { boot, fakeEnv, fixture, postSlack } from '../app-harness.js';

/**
 * Issue 18: files people share on Slack reach the assistant, through the real Bolt against the
 * fakes. The envelope is the recorded app_mention with a file (streaming-slack.json,
 * aiMentionWithFile); only its files[] point at the fake's hosts.
 */
const recorded = fixture('streaming-slack.json').aiMentionWithFile;
const CSV = Buffer.from('region,sales\nnorth,120\nsouth,95\n"east, coast",140\n');
let ds: FakeDashScope;
let slack: FakeSlack;
let elsewhere: FakeFileHost;
let redirector: FakeFileHost;
let app: Threadline;
let n = 0;

function mentionWith(files: unknown[], text = 'what are the total sales?') {
  const ts = `17702${String(++n).padStart(5, '0')}.000100`;
  return { ...recorded, event_id: `EvFILE${n}`, event: { ...recorded.event, ts, event_ts: ts, text: `<@U00FAKEBOT01> ${text}`, files } };
}
const thread = (ev: { event: { channel: string; ts: string } }) => slack.visible(ev.event.channel, ev.event.ts);

beforeAll(async () => {
  [ds, slack, elsewhere, redirector] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start(), new FakeFileHost().start(), new FakeFileHost().start()]);
  app = await boot({
    ...fakeEnv({ ds, slack }),
    // the fake's host stands for files.slack.com; the redirector is listed too, `elsewhere` is not
    SLACK_FILES_HOSTS: `${slack.url.replace('http://', '')},${redirector.host}`,
    FILE_MAX_BYTES: '100000',
    FILE_TIMEOUT: '300ms',
  });
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([ds.stop(), slack.stop(), elsewhere.stop(), redirector.stop()]);
});
beforeEach(() => {
  slack.filesRead = true;
  ds.model = ({ newUserMessages }) => ({ text: `You said: ${newUserMessages.join(' | ')}` });
});

describe('a file shared with a mention', () => {
  it('reaches DashScope byte for byte, and the message names it by file id', async () => {
    const ev = mentionWith([slack.shareFile('sales.csv', CSV, 'text/csv')]);
    await postSlack(app.url, ev);
    await app.slack!.idle();
    // downloaded from Slack's host with the bot token
    expect(slack.log.filter((c) => c.method === 'file_download').map((c) => c.args.authorized)).toEqual([true]);
    const uploads = ds.log.filter((c) => c.method === 'POST' && c.path === '/files');
    expect(uploads).toHaveLength(1);
    const [fileId, stored] = [...ds.files.entries()].at(-1)!;
    expect(stored.name).toBe('sales.csv');
    expect(stored.bytes.equals(CSV)).toBe(true);
    const message = ds.messageCreates().at(-1)!;
    expect(message.body.file_ids).toEqual([fileId]);
    expect(message.body.content).toMatch(/what are the total sales\?\n\n\[shared: sales\.csv\]$/);
    expect(thread(ev).join('\n')).toMatch(/You said: .*what are the total sales/);
    // a reset forgets the conversation, and its files at DashScope with it
    const ts = `17702${String(++n).padStart(5, '0')}.000100`;
    await postSlack(app.url, { ...recorded, event_id: `EvFILE${n}`, event: { ...recorded.event, ts, event_ts: ts, thread_ts: ev.event.ts, text: '<@U00FAKEBOT01> reset' } });
    await app.slack!.idle();
    expect(ds.log.filter((c) => c.method === 'DELETE' && c.path === `/files/${fileId}`)).toHaveLength(1);
    expect(ds.files.has(fileId)).toBe(false);
  });

  it('a conversation that expired (CONVERSATION_TTL) has its files deleted at DashScope by the sweep; live ones keep theirs', async () => {
    const kept = mentionWith([slack.shareFile('kept.csv', CSV, 'text/csv')]);
    const expiring = mentionWith([slack.shareFile('old.csv', CSV, 'text/csv')]);
    await postSlack(app.url, kept);
    await postSlack(app.url, expiring);
    await app.slack!.idle();
    const idOf = (name: string) => [...ds.files.entries()].find(([, f]) => f.name === name)![0];
    const [keptId, oldId] = [idOf('kept.csv'), idOf('old.csv')];
    // the record expires in the store (Redis drops it at its TTL): nothing is told, the sweep finds out
    await app.store.delete(`conversation:slack:T00FAKE00BB:${expiring.event.channel}:${expiring.event.ts}`);
    expect(await app.engine.held.sweep()).toBe(1);
    expect(ds.files.has(oldId)).toBe(false);
    expect(ds.files.has(keptId)).toBe(true);
    expect(await app.engine.held.sweep()).toBe(0); // released once
  });

  it('a file shared in a thread Threadline follows is part of the conversation, with no mention', async () => {
    const root = mentionWith([], 'hello');
    await postSlack(app.url, root);
    await app.slack!.idle();
    const ts = `17702${String(++n).padStart(5, '0')}.000100`;
    const { blocks: _b, ...plain } = recorded.event as Record<string, unknown>;
    const followUp = {
      ...recorded,
      event_id: `EvFILE${n}`,
      event: {
        ...plain,
        type: 'message',
        subtype: 'file_share',
        channel_type: 'channel',
        ts,
        event_ts: ts,
        thread_ts: root.event.ts,
        text: 'and this one',
        files: [slack.shareFile('more.csv', CSV, 'text/csv')],
      },
    };
    await postSlack(app.url, followUp);
    await app.slack!.idle();
    const message = ds.messageCreates().at(-1)!;
    expect(message.body.content).toMatch(/and this one\n\n\[shared: more\.csv\]$/);
    expect(message.body.file_ids).toHaveLength(1);
    expect(ds.files.get(message.body.file_ids[0])!.bytes.equals(CSV)).toBe(true);
  });

  it('a file alone, with no words, is still a question: the model is told what was shared', async () => {
    const ev = mentionWith([slack.shareFile('notes.txt', Buffer.from('buy milk'), 'text/plain')], '');
    await postSlack(app.url, ev);
    await app.slack!.idle();
    expect(ds.messageCreates().at(-1)!.body.content).toMatch(/\[shared: notes\.txt\]$/);
    expect(thread(ev).join('\n')).not.toMatch(/Ask me anything/);
  });
});

describe('files the code interpreter makes', () => {
  it('a chart comes back as a real Slack file in the thread, its bytes as DashScope had them', async () => {
    const chart = Buffer.concat([PNG, Buffer.from('chart')]);
    ds.model = () => ({ codeInterpreter: { input: 'df.plot()', output: 'plotted', image: { name: 'chart.png', bytes: chart, contentType: 'image/png' } }, text: 'Here is the chart.' });
    const ev = mentionWith([slack.shareFile('sales2.csv', CSV, 'text/csv')], 'plot it');
    await postSlack(app.url, ev);
    await app.slack!.idle();
    const complete = slack.calls('files.completeUploadExternal').at(-1)!;
    expect(complete.args).toMatchObject({ channel_id: ev.event.channel, thread_ts: ev.event.ts });
    expect(slack.uploads.get(complete.args.files[0].id)!.bytes.equals(chart)).toBe(true);
    expect(slack.calls('files.getUploadURLExternal').at(-1)!.args.filename).toBe('chart.png');
  });

  it('files named in the answer itself (an image_file part, a file_path annotation) are attached too, each once', async () => {
    const csvOut = Buffer.from('region,total\nall,355\n');
    ds.model = () => ({
      text: 'Totals are in the file.',
      answerFiles: { image: { name: 'plot.png', bytes: PNG, contentType: 'image/png' }, path: { name: 'totals.csv', bytes: csvOut, contentType: 'text/csv' } },
    });
    const ev = mentionWith([], 'export the totals');
    const before = slack.calls('files.completeUploadExternal').length;
    await postSlack(app.url, ev);
    await app.slack!.idle();
    const completes = slack.calls('files.completeUploadExternal').slice(before);
    const uploaded = completes.map((c) => slack.uploads.get(c.args.files[0].id)!);
    expect(uploaded.map((u) => u.filename).sort()).toEqual(['plot.png', 'totals.csv']);
    expect(uploaded.find((u) => u.filename === 'totals.csv')!.bytes.equals(csvOut)).toBe(true);
    expect(completes.every((c) => c.args.thread_ts === ev.event.ts)).toBe(true);
  });

  it('a file that cannot be fetched leaves the answer whole, with a line saying so', async () => {
    ds.model = () => ({ codeInterpreter: { input: 'x', output: 'y', image: { name: 'big.png', bytes: Buffer.alloc(21 * 1024 * 1024), contentType: 'image/png' } }, text: 'Done.' });
    const ev = mentionWith([], 'make something big');
    await postSlack(app.url, ev);
    await app.slack!.idle();
    expect(thread(ev).join('\n')).toMatch(/Done\.\s+_\(The code interpreter made a file I could not fetch: file larger than 20971520 bytes\.\)_/);
  });
});

describe('files that are refused get one short line, and the message is answered', () => {
  it('the bot token never goes to a host outside SLACK_FILES_HOSTS: not directly, not after a redirect', async () => {
    const direct = elsewhere.put('/stolen.csv', CSV, 'text/csv');
    const bounced = redirector.put('/files-pri/T1-F9/download/bounce.csv', CSV, 'text/csv', { redirect: `${elsewhere.url}/stolen.csv` });
    const file = (name: string, url: string) => ({ id: `F${name}`, name, mimetype: 'text/csv', size: CSV.length, mode: 'hosted', file_access: 'visible', url_private: url, url_private_download: url });
    const ev = mentionWith([file('direct.csv', direct), file('bounce.csv', bounced)]);
    await postSlack(app.url, ev);
    await app.slack!.idle();
    expect(elsewhere.requests).toEqual([]); // nothing at all reached the other host
    expect(redirector.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${slack.botToken}`]);
    const seen = thread(ev).join('\n');
    expect(seen).toMatch(/I could not read direct\.csv: host 127\.0\.0\.1 is not in SLACK_FILES_HOSTS/);
    expect(seen).toMatch(/I could not read bounce\.csv: host 127\.0\.0\.1 is not in SLACK_FILES_HOSTS/);
    expect(seen).toMatch(/You said:/);
    expect(ds.messageCreates().at(-1)!.body.file_ids).toBeUndefined();
  });

  it("Slack's sign-in page (no files:read) is never passed off as the file", async () => {
    slack.filesRead = false;
    const ev = mentionWith([slack.shareFile('report.pdf', Buffer.from('%PDF-1.7 …'), 'application/pdf')]);
    const before = ds.files.size;
    await postSlack(app.url, ev);
    await app.slack!.idle();
    expect(ds.files.size).toBe(before);
    expect(thread(ev).join('\n')).toMatch(/I could not read report\.pdf: Slack sent its sign-in page instead of the file \(the app needs the files:read scope\)/);
  });

  it('too large as declared: not fetched at all; a type not on the list: not fetched either', async () => {
    const big = slack.shareFile('huge.csv', CSV, 'text/csv', { size: 5_000_000 });
    const exe = slack.shareFile('setup.exe', Buffer.from('MZ'), 'application/x-msdownload');
    const ev = mentionWith([big, exe]);
    const downloads = slack.log.filter((c) => c.method === 'file_download').length;
    await postSlack(app.url, ev);
    await app.slack!.idle();
    expect(slack.log.filter((c) => c.method === 'file_download')).toHaveLength(downloads);
    const seen = thread(ev).join('\n');
    expect(seen).toMatch(/I could not read huge\.csv: it is 4\.8 MB, more than the 0\.1 MB I can read/);
    expect(seen).toMatch(/I could not read setup\.exe: I do not read application\/x-msdownload files/);
    expect(seen).toMatch(/You said:/);
  });

  it('a file that sends more than FILE_MAX_BYTES (whatever was declared) is cut off at the limit, not read to the end', async () => {
    const liar = redirector.put('/files-pri/T1-F10/download/liar.csv', Buffer.alloc(400_000, 'a'), 'text/csv', { declare: 100 });
    const ev = mentionWith([{ id: 'F10', name: 'liar.csv', mimetype: 'text/csv', size: 100, mode: 'hosted', file_access: 'visible', url_private: liar, url_private_download: liar }]);
    await postSlack(app.url, ev);
    await app.slack!.idle();
    expect(thread(ev).join('\n')).toMatch(/I could not read liar\.csv: file larger than 100000 bytes/);
  });

  it('a download that stalls ends at FILE_TIMEOUT with a line, and the message is answered', async () => {
    const slow = redirector.put('/files-pri/T1-F11/download/slow.csv', CSV, 'text/csv', { hang: true });
    const ev = mentionWith([{ id: 'F11', name: 'slow.csv', mimetype: 'text/csv', size: CSV.length, mode: 'hosted', file_access: 'visible', url_private: slow, url_private_download: slow }]);
    await postSlack(app.url, ev);
    await app.slack!.idle();
    const seen = thread(ev).join('\n');
    expect(seen).toMatch(/I could not read slow\.csv: file download timed out/);
    expect(seen).toMatch(/You said:/);
  });

  it('a file Slack will not hand over (shared from another organisation) says so without a download', async () => {
    const ev = mentionWith([slack.shareFile('connect.csv', CSV, 'text/csv', { file_access: 'check_file_info' })]);
    const downloads = slack.log.filter((c) => c.method === 'file_download').length;
    await postSlack(app.url, ev);
    await app.slack!.idle();
    expect(slack.log.filter((c) => c.method === 'file_download')).toHaveLength(downloads);
    expect(thread(ev).join('\n')).toMatch(/I could not read connect\.csv: it was shared from another organisation/);
  });
});
