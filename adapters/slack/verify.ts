import { createHmac } from 'node:crypto';
import { safeEqual } from '../../src/safe-equal.js';

export type Verdict = { ok: true } | { ok: false; reason: 'missing' | 'stale' | 'mismatch' };

/**
 * Checks Slack's v0 request signature on the raw body: HMAC-SHA256 of `v0:<ts>:<body>` with the
 * signing secret, compared in constant time. A timestamp more than `toleranceSec` away from now,
 * in either direction, is refused (Bolt's own check lets future timestamps through).
 */
export function verifySlackSignature(
  secret: string,
  headers: { timestamp?: string | null; signature?: string | null },
  rawBody: string,
  nowSec = Math.floor(Date.now() / 1000),
  toleranceSec = 300,
): Verdict {
  const ts = headers.timestamp ?? '';
  const sig = headers.signature ?? '';
  if (!/^\d{1,12}$/.test(ts) || !sig.startsWith('v0=')) return { ok: false, reason: 'missing' };
  if (Math.abs(nowSec - Number(ts)) > toleranceSec) return { ok: false, reason: 'stale' };
  if (!safeEqual(sig, `v0=${createHmac('sha256', secret).update(`v0:${ts}:${rawBody}`).digest('hex')}`)) return { ok: false, reason: 'mismatch' };
  return { ok: true };
}

/** Signs a body the way Slack does (tests and benchmarks). */
export function signSlackBody(secret: string, rawBody: string, ts = Math.floor(Date.now() / 1000)): { 'x-slack-request-timestamp': string; 'x-slack-signature': string } {
  return {
    'x-slack-request-timestamp': String(ts),
    'x-slack-signature': `v0=${createHmac('sha256', secret).update(`v0:${ts}:${rawBody}`).digest('hex')}`,
  };
}
