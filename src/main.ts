import { startThreadline } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger, scrub } from './log.js';

/**
 * `npm start`: read the configuration, start Threadline, stop gracefully on SIGTERM/SIGINT.
 * A configuration problem prints one line per variable and exits 2, without a stack trace.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n\nSet these in the environment or in a .env file; README.md explains each one.\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let app;
  try {
    app = await startThreadline(config, { log });
  } catch (err) {
    if (err instanceof ConfigError) {
      // a platform's own settings (src/platform.ts), refused like the rest of the configuration
      process.stderr.write(`${err.message}\n\nSet these in the environment or in a .env file; README.md explains each one.\n`);
      process.exit(2);
    }
    log.fatal({ err }, 'startup failed');
    process.stderr.write(`Threadline could not start: ${scrub((err as Error).message)}\n`);
    process.exit(1);
  }
  let signals = 0;
  const shutdown = async (signal: string) => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info({ signal, deadlineMs: config.shutdownTimeoutMs }, 'shutting down');
    const { finished } = await app.stop(config.shutdownTimeoutMs);
    log.info({ finished }, finished ? 'stopped cleanly' : 'stopped; unfinished turns will be finished on the next start');
    log.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled rejection'));
}

void main();
