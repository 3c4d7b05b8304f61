import { LogLevel, type Logger as SlackLogger } from '@slack/bolt';
import { scrub, type Logger } from '../../src/log.js';

/** Bolt's and the WebClient's log lines, through our logger: joined, scrubbed of tokens, at their level. */
export function slackLogger(log: Logger): SlackLogger {
  const child = log.child({ component: 'slack' });
  let level = LogLevel.ERROR;
  // Bolt joins its own lines (request URLs, error texts): scrubbed like every other line. The
  // WebClient logs debug lines on every call: joined and scrubbed only when the level is on
  // (the burst benchmark's profile had 1% of Threadline's CPU here with debug off).
  const line =
    (at: 'debug' | 'info' | 'warn' | 'error') =>
    (...m: unknown[]) => {
      if (child.isLevelEnabled(at)) child[at](scrub(m.map(String).join(' ')));
    };
  return {
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    setLevel: (l: LogLevel) => (level = l),
    getLevel: () => level,
    setName: () => undefined,
  };
}
