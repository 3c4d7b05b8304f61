import { timingSafeEqual } from 'node:crypto';

/**
 * Compares a secret someone sent with the one we hold in constant time (a token, a signature):
 * how long it takes says nothing about how much of it matched.
 *
 * @example safeEqual(req.header('authorization') ?? '', `Bearer ${token}`)
 */
export function safeEqual(given: string, expected: string): boolean {
  const x = Buffer.from(given);
  const y = Buffer.from(expected);
  return x.length === y.length && timingSafeEqual(x, y);
}
