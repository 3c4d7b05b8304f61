import type { PlatformModule } from '../../src/platform.js';
import { startDiscord } from './index.js';

/** Discord, when DISCORD_TOKEN is set. */
export const discordPlatform: PlatformModule = {
  name: 'discord',
  role: () => 'gateway',
  enabled: (config) => !!config.discord,
  start: ({ config, engine, store, log, metrics, assistantNames, throttled, testing }) => {
    const t = testing as { discordRestRetries?: number; editIntervalMs?: number; discordTypingEveryMs?: number };
    return startDiscord({
      config: config.discord!,
      engine,
      store,
      log,
      metrics,
      restRetries: t.discordRestRetries,
      editIntervalMs: t.editIntervalMs,
      typingEveryMs: t.discordTypingEveryMs,
      fileTimeoutMs: config.files.timeoutMs,
      assistantNames,
      onGlobalLimit: () => throttled('discord'),
    });
  },
};
