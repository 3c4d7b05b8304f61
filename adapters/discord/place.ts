/**
 * Where a Discord reply is (DiscordSink.place): the messages it was posted in so far, in order.
 * Each of them was created with a nonce Discord enforces (`${replyTo}.${i}`), so a restart that
 * sends a part again whose create may have landed gets that message back instead of a second one.
 */
export type DiscordPlace = {
  messages: string[];
};

/** Discord keeps a nonce to 25 characters. */
const NONCE_MAX = 25;

/** A place read back from the store, checked (it crossed a process boundary): undefined when it is not one. */
export function discordPlaceOf(place: Record<string, unknown> | undefined): DiscordPlace | undefined {
  const messages = place?.messages;
  if (!Array.isArray(messages) || messages.length > 10 || !messages.every((id) => typeof id === 'string' && /^\d{1,20}$/.test(id))) return undefined;
  return { messages: messages as string[] };
}

/**
 * The nonce of the reply's `part`th message: the same for the same reply in any process (it is
 * made of the message replied to), so Discord's `enforce_nonce` turns a second create into the first.
 */
export function partNonce(replyTo: string | undefined, part: number): string | undefined {
  if (!replyTo) return undefined;
  const nonce = `${replyTo}.${part}`;
  return nonce.length <= NONCE_MAX ? nonce : undefined;
}
