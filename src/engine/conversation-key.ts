/**
 * Conversation keys name one chat conversation, and through it one conversation of the model
 * backend. The engine treats them as opaque strings that follow one convention, which every
 * adapter's codec keeps (adapters/<platform>/key.ts, each with a round-trip test):
 *
 *   `<platform>:<space>:<channel>[:<thread>]`
 *
 * - `platform` names the adapter that serves it (`slack`, `discord`, `web`);
 * - `space` is the workspace, server or room (`dm` where the platform has none);
 * - the first three parts name the channel: a channel's choice of assistant, its budget and its
 *   meeting are kept under that channel key.
 *
 * Parts never contain `:`; codecs refuse any that would, so decode(encode(x)) is always x.
 */

/** How an adapter writes and reads its own keys. */
export interface ConversationKeyCodec<Ref> {
  readonly platform: string;
  encode(ref: Ref): string;
  /** Inverse of `encode`; throws TypeError on anything that is not one of this platform's keys. */
  decode(key: string): Ref;
  /** Whether the conversation is one person's direct messages with the bot (routes may single DMs out). */
  isDirect(key: string): boolean;
}

const PART = /^[A-Za-z0-9._-]+$/;

/** One part of a key, checked: codecs call it for every part they write or read. */
export function keyPart(value: string | undefined, name: string): string {
  if (value === undefined || !PART.test(value)) throw new TypeError(`invalid ${name} in conversation key: ${JSON.stringify(value)}`);
  return value;
}

/** @example platformOf('slack:T1:C1:1.2') // 'slack' */
export function platformOf(key: string): string {
  return key.replace(/^meeting:/, '').split(':', 1)[0] ?? '';
}

/**
 * The channel a conversation (or a meeting, `meeting:<channel key>`) is in: its first three parts.
 *
 * @example channelKeyOf('slack:T1:C1:1767.0001') // 'slack:T1:C1'
 */
export function channelKeyOf(key: string): string {
  return key
    .replace(/^meeting:/, '')
    .split(':')
    .slice(0, 3)
    .join(':');
}

/** Where a conversation is, as routes see it: platform, space (workspace, server, room), channel. */
export function placeOf(key: string): { platform: string; space?: string; channel?: string } {
  const [platform = '', space, channel] = key.replace(/^meeting:/, '').split(':');
  return { platform, space, channel };
}
