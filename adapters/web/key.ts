import { keyPart, type ConversationKeyCodec } from '../../src/engine/conversation-key.js';

/**
 * The playground's conversation keys: `web:<room>:<conversation>`. A conversation is its own
 * channel (three parts): a meeting started in it takes notes from every tab that has it open.
 */
export type WebConversation = { room: string; conversation: string };

/** @example webKeys.encode({ room: 'main', conversation: 'c1' }) // 'web:main:c1' */
export const webKeys: ConversationKeyCodec<WebConversation> = {
  platform: 'web',
  encode: (ref) => `web:${keyPart(ref.room, 'room')}:${keyPart(ref.conversation, 'conversation')}`,
  decode(key) {
    const p = key.split(':');
    if (p[0] !== 'web' || p.length !== 3) throw new TypeError(`not a playground conversation key: ${JSON.stringify(key)}`);
    return { room: keyPart(p[1], 'room'), conversation: keyPart(p[2], 'conversation') };
  },
  // every playground conversation can be opened in several tabs: none is a DM
  isDirect: () => false,
};
