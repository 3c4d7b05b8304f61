import pinoPretty from 'pino-pretty';
import { pino, destination, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Paths whose values never reach a log line. */
export const REDACT = [
  'apiKey',
  '*.apiKey',
  'token',
  '*.token',
  'botToken',
  '*.botToken',
  'appToken',
  '*.appToken',
  'signingSecret',
  '*.signingSecret',
  'user_token',
  '*.user_token',
  '*.*.user_token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'config.dashscope.apiKey',
  'password',
  '*.password',
  // Slack OAuth: the app's secrets, the key installations are sealed with, and an installation's tokens
  'clientSecret',
  '*.clientSecret',
  'stateSecret',
  '*.stateSecret',
  'encryptionKey',
  '*.encryptionKey',
  '*.*.token',
  'refreshToken',
  '*.refreshToken',
  '*.*.refreshToken',
  'client_secret',
  '*.client_secret',
];

/** Patterns of secrets inside free text (error messages, URLs); replaced before logging. */
const SECRET_TEXT = /\b(xox[abeprs]-[\w-]+|xapp-[\w-]+|sk-[A-Za-z0-9]{8,}|Bearer\s+[\w.~+/=-]+|Bot\s+[\w.-]{20,})/g;
/** Secrets in URL query strings (`?api_key=…`, `&token=…`, signed URLs' `Signature=`). */
const SECRET_QUERY = /([?&](?:api[_-]?key|key|token|access_token|secret|client_secret|code|password|signature|sig|x-amz-signature|OSSAccessKeyId)=)[^&#\s"']+/gi;
/** Secrets as JSON fields inside text (a client's debug line with the request body: oauth.v2.access sends client_secret). */
const SECRET_FIELD = /("(?:client_secret|refresh_token|access_token|bot_access_token|token|code)"\s*:\s*")[^"]*/gi;
/** Tokens inside Discord REST paths: interaction callbacks and webhooks carry them. */
const DISCORD_TOKEN_PATH = /(\/(?:interactions|webhooks)\/\d+\/)[\w.-]{20,}/g;

/** Removes anything that looks like a token from a string. */
export function scrub(text: string): string {
  return text.replace(SECRET_TEXT, '[redacted]').replace(SECRET_QUERY, '$1[redacted]').replace(SECRET_FIELD, '$1[redacted]').replace(DISCORD_TOKEN_PATH, '$1[redacted]');
}

/** Every string inside a value scrubbed, to a bounded depth (error fields, causes, response data). */
export function scrubDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (!value || typeof value !== 'object' || depth > 4) return value;
  if (Array.isArray(value)) return value.slice(0, 20).map((v) => scrubDeep(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = /token|secret|password|authorization|api_?key/i.test(k) ? '[redacted]' : scrubDeep(v, depth + 1);
  return out;
}

/**
 * What an error says in the log: its type, message, code, status, the method and route of a
 * failed request (without tokens), a request id, its cause; never a request body (a Discord
 * error's `requestBody` is the message being posted) and never a secret.
 */
export function serializeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: scrub(String(err)) };
  const e = err as Error & { code?: unknown; status?: unknown; method?: unknown; url?: unknown; requestId?: unknown; retryable?: unknown; tool?: unknown; data?: { error?: unknown } };
  const out: Record<string, unknown> = { type: e.name, message: e.message };
  for (const k of ['code', 'status', 'method', 'requestId', 'retryable', 'tool'] as const) if (e[k] !== undefined) out[k] = e[k];
  if (typeof e.url === 'string') out.route = e.url.replace(/^https?:\/\/[^/]+/, '').split('?')[0];
  if (e.data && typeof e.data.error === 'string') out.slackError = e.data.error;
  if (e.stack) out.stack = e.stack.split('\n').slice(0, 6).join('\n');
  if (e.cause !== undefined) out.cause = e.cause instanceof Error ? serializeError(e.cause) : typeof e.cause === 'string' ? e.cause.slice(0, 200) : `(${typeof e.cause})`;
  return scrubDeep(out) as Record<string, unknown>;
}

/**
 * The service logger: JSON lines (pretty enough in a terminal via `pino-pretty` if installed),
 * with tokens and keys redacted by path and by pattern.
 */
export function createLogger(level = 'info', dest?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'threadline' },
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: stdTimeFunctions.isoTime,
      serializers: {
        err: (err: unknown) => (err instanceof Error ? serializeError(err) : scrubDeep(err)),
      },
    },
    dest ?? (process.stdout.isTTY ? pretty() : destination({ dest: 1, sync: false })),
  );
}

/** Human-readable lines when a person watches the terminal; JSON everywhere else. */
function pretty(): DestinationStream {
  try {
    return pinoPretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service', sync: true });
  } catch {
    // pino-pretty could not start (no TTY features): plain JSON lines are as complete
    return destination({ dest: 1, sync: true });
  }
}

/** A logger that drops everything; for tests that do not look at logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
