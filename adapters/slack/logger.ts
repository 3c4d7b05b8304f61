import { LogLevel, type Logger as SlackLogger } from '@slack/bolt';
import { scrub, type Logger } from '../../src/log.js';

/** Bolt's and the WebClient's log lines, through our logger: joined, scrubbed of tokens, at their level. */
export function slackLogger(log: Logger): SlackLogger {
  const child = log.child({ component: 'slack' });
  let level = LogLevel.ERROR;
  return {
    // Bolt joins its own lines (request URLs, error texts): scrubbed like every other line
    debug: (...m: unknown[]) => child.debug(scrub(m.map(String).join(' '))),
    info: (...m: unknown[]) => child.info(scrub(m.map(String).join(' '))),
    warn: (...m: unknown[]) => child.warn(scrub(m.map(String).join(' '))),
    error: (...m: unknown[]) => child.error(scrub(m.map(String).join(' '))),
    setLevel: (l: LogLevel) => (level = l),
    getLevel: () => level,
    setName: () => undefined,
  };
}
