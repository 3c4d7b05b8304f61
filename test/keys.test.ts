import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { discordKeys, type DiscordConversation } from '../adapters/discord/key.js';
import { slackKeys, type SlackConversation } from '../adapters/slack/key.js';
import { webKeys, type WebConversation } from '../adapters/web/key.js';
import { channelKeyOf, platformOf, type ConversationKeyCodec } from '../src/engine/conversation-key.js';

/** Every adapter's codec: decode(encode(x)) is x, the key follows `<platform>:<space>:<channel>[:<thread>]`, and what is not a key is refused. */
const part = fc.stringMatching(/^[A-Za-z0-9._-]{1,24}$/);
const codecs: Array<[ConversationKeyCodec<unknown>, fc.Arbitrary<unknown>, unknown[], string[]]> = [
  [
    slackKeys,
    fc
      .record({ team: part, channel: part, threadTs: fc.option(part, { nil: undefined }) }, { requiredKeys: ['team', 'channel'] })
      .map((r: SlackConversation) => (r.threadTs === undefined ? { team: r.team, channel: r.channel } : r)),
    // recorded ids (fixtures/recorded: streaming-slack.json)
    [
      { team: 'T00FAKE00AA', channel: 'C00FAKECHAN1', threadTs: '1767224888.280449' },
      { team: 'T0ADGE2G4EM', channel: 'D0ACX51K95H' },
    ],
    ['', 'slack', 'slack:T1', 'slack:T1:C:1:2', 'discord:dm:9', 'slack:T1:C1:', 'slack:T 1:C1'],
  ],
  [
    discordKeys,
    fc.oneof(
      fc.record({ guild: part.filter((g) => g !== 'dm'), channel: part, thread: part }),
      part.map((channel): DiscordConversation => ({ guild: 'dm', channel })),
    ),
    [
      { guild: '1457468924290662599', channel: '1457510428359004343', thread: '1457536551830421524' },
      { guild: 'dm', channel: '1457536551830421999' },
    ],
    ['', 'discord', 'discord:dm', 'discord:1:2', 'discord:dm:1:2', 'slack:T1:C1'],
  ],
  [webKeys, fc.record({ room: part, conversation: part }).map((r: WebConversation) => r), [{ room: 'main', conversation: 'c-7Hq2' }], ['', 'web', 'web:main', 'web:main:c:1', 'slack:T1:C1:1.2']],
];

describe.each(codecs)('conversation keys: $platform', (codec, arbitrary, recorded, bad) => {
  it('round-trips every reference, recorded ids included', () => {
    for (const ref of recorded) expect(codec.decode(codec.encode(ref))).toEqual(ref);
    fc.assert(
      fc.property(arbitrary, (ref) => {
        const key = codec.encode(ref);
        expect(codec.decode(key)).toEqual(ref);
        expect(codec.encode(codec.decode(key))).toBe(key);
        expect(platformOf(key)).toBe(codec.platform);
        expect(channelKeyOf(key).split(':')).toHaveLength(3);
      }),
    );
  });

  it('refuses what is not one of its keys, and parts that would break the shape', () => {
    for (const key of bad) expect(() => codec.decode(key)).toThrow(TypeError);
  });
});

describe('keys say where a conversation is', () => {
  it('DMs, as each platform marks them', () => {
    expect(slackKeys.isDirect('slack:T1:D0ACX51K95H:1.2')).toBe(true);
    expect(slackKeys.isDirect('slack:T1:C1:1.2')).toBe(false);
    expect(discordKeys.isDirect('discord:dm:9')).toBe(true);
    expect(discordKeys.isDirect('discord:G:C:T')).toBe(false);
    expect(webKeys.isDirect('web:main:c1')).toBe(false);
    expect(() => slackKeys.encode({ team: 'T:1', channel: 'C' })).toThrow(TypeError);
  });
});
