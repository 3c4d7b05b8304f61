import pinoPretty from 'pino-pretty';
import { pino, destination, stdSerializers, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Paths whose values never reach a log line. */
export const REDACT = [
  'apiKey', '*.apiKey', 'token', '*.token', 'botToken', '*.botToken', 'appToken', '*.appToken',
  'signingSecret', '*.signingSecret', 'user_token', '*.user_token', '*.*.user_token', 'authorization', '*.authorization',
  'headers.authorization', 'req.headers.authorization', 'config.dashscope.apiKey', 'password', '*.password',
];

/** Patterns of secrets inside free text (error messages, URLs); replaced before logging. */
const SECRET_TEXT = /\b(xox[abprs]-[\w-]+|xapp-[\w-]+|sk-[A-Za-z0-9]{8,}|Bearer\s+[\w.-]+|Bot\s+[\w.-]{20,})/g;

/** Removes anything that looks like a token from a string. */
export function scrub(text: string): string {
  return text.replace(SECRET_TEXT, '[redacted]');
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
        err: (err: unknown) => {
          const e = stdSerializers.err(err as Error);
          if (e && typeof e.message === 'string') e.message = scrub(e.message);
          if (e && typeof e.stack === 'string') e.stack = scrub(e.stack);
          return e;
        },
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
    return destination({ dest: 1, sync: true });
  }
}

/** A logger that drops everything; for tests that do not look at logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
