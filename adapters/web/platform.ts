import type { PlatformModule } from '../../src/platform.js';
import { startWeb } from './index.js';

/** The web playground: on without Slack and Discord, or with PLAYGROUND=on. */
export const webPlatform: PlatformModule = {
  name: 'web',
  routePrefixes: ['/playground'],
  role: () => 'web',
  enabled: (config) => !!config.playground,
  start: (ctx) => startWeb(ctx),
};
