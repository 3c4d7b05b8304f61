import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Threadline } from '../src/app.js';
import { FakeDashScope } from './fakes/dashscope.js';
import { FakeDiscord } from './fakes/discord.js';
import { FakeImageHost, PNG } from './fakes/image-server.js';
import { FakeSlack } from './fakes/slack.js';
import { boot, fixture, postSlack, fakeEnv, discordDm } from './app-harness.js';

let ds: FakeDashScope;
let slack: FakeSlack;
let discord: FakeDiscord;
let images: FakeImageHost;
let app: Threadline;

beforeAll(async () => {
  [ds, slack, discord, images] = await Promise.all([new FakeDashScope().start(), new FakeSlack().start(), new FakeDiscord().start(), new FakeImageHost().start()]);
  app = await boot({
    ...fakeEnv({ ds, slack, discord }),
    IMAGE_HOSTS: images.host,
  });
});
afterAll(async () => {
  await app?.stop(1_000);
  await Promise.all([ds.stop(), slack.stop(), discord.stop(), images.stop()]);
});

describe('Slack and Discord in one process', () => {
  it('uploads images on both platforms (discord.js multipart still works with Bolt loaded)', async () => {
    ds.model = () => ({ text: `![a cat](${images.url}/cat.png)` });
    await postSlack(app.url, fixture('slack.json').mention);
    discord.dispatch('MESSAGE_CREATE', discordDm(discord.nextId(), '1460000000000000100', 'cat'));
    await discord.rest.waitFor((c) => c.files.length > 0);
    await Promise.all([app.slack!.idle(), app.discord!.idle()]);
    const slackFile = slack.calls('files.completeUploadExternal')[0].args.files[0].id;
    expect(slack.uploads.get(slackFile)!.bytes.equals(PNG)).toBe(true);
    expect(discord.rest.calls.find((c) => c.files.length > 0)!.files[0].bytes.equals(PNG)).toBe(true);
    expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
    // two conversations, two Assistant threads
    expect(ds.threads.size).toBe(2);
  });
});
