import { createHmac } from 'node:crypto';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import { safeEqual } from '../../src/safe-equal.js';

export const COOKIE = 'threadline_playground';

/** What the cookie holds: a MAC of the token, so the token itself never sits in the browser's cookie jar. */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('threadline playground session').digest('base64url');
}

function isLoopback(address: string | undefined): boolean {
  return !!address && (/^127\./.test(address) || address === '::1' || /^::ffff:127\./.test(address));
}

/** Whether the request carries PLAYGROUND_TOKEN: the session cookie, or `Authorization: Bearer`. */
export function authorized(c: Context, token: string): boolean {
  const bearer = c.req.header('authorization')?.match(/^Bearer (.+)$/)?.[1];
  if (bearer !== undefined) return safeEqual(bearer, token);
  const cookie = getCookie(c, COOKIE);
  return cookie !== undefined && safeEqual(cookie, sessionValue(token));
}

/**
 * Who may use the playground. With PLAYGROUND_TOKEN, everyone who shows it (pages redirect to
 * the login form, API calls get 401); without it, this machine only (peers on loopback; 403 for
 * the rest, say behind a proxy). State-changing requests also pass Hono's CSRF check: a form on
 * another site cannot post into a conversation with the person's cookie.
 */
export function playgroundGuard(opts: { token?: string; loginPath: string; open: string[] }): MiddlewareHandler[] {
  const who: MiddlewareHandler = async (c, next) => {
    if (opts.open.includes(c.req.path)) return next();
    if (opts.token) {
      if (authorized(c, opts.token)) return next();
      if (c.req.method === 'GET' && !c.req.path.includes('/api/')) return c.redirect(opts.loginPath);
      return c.json({ error: 'The playground needs its token: sign in at ' + opts.loginPath }, 401);
    }
    if (isLoopback(getConnInfo(c).remote.address)) return next();
    return c.json({ error: 'The playground answers on this machine only. Set PLAYGROUND_TOKEN to open it to others.' }, 403);
  };
  // Origin compared with the Host the browser used: behind Fly's TLS proxy the URL Hono sees is http://
  const sameSite = csrf({ origin: (origin, c) => URL.canParse(origin) && new URL(origin).host === c.req.header('host') });
  return [sameSite, who];
}

/** Signs a browser in: the cookie is HttpOnly, SameSite=Strict, Secure when the page came over https. */
export function signIn(c: Context, token: string): void {
  const https = c.req.header('x-forwarded-proto') === 'https' || new URL(c.req.url).protocol === 'https:';
  setCookie(c, COOKIE, sessionValue(token), { httpOnly: true, sameSite: 'Strict', secure: https, path: '/', maxAge: 30 * 86_400 });
}
