import type { SharedFile, SharedFileRef } from '../../src/engine/types.js';
import type { Platform, PlatformContext } from '../../src/platform.js';
import { loadAssets } from './assets.js';
import { WebHub } from './hub.js';
import { webKeys } from './key.js';
import { BASE, fileUrl, webRoutes } from './routes.js';
import { WebSink } from './sink.js';

export interface WebAdapter extends Platform {
  hub: WebHub;
  /** The page's address, as printed at startup. */
  url: string;
}

/**
 * The web playground: Threadline's own chat page, served by its Hono server, on the same engine,
 * store, backends and tools as Slack and Discord.
 */
export async function startWeb(ctx: PlatformContext): Promise<WebAdapter> {
  const hub = new WebHub({ store: ctx.store, log: ctx.log });
  await hub.start();
  const token = ctx.config.playground?.token;
  const web = webRoutes({
    engine: ctx.engine,
    hub,
    log: ctx.log,
    assets: loadAssets(),
    token,
    assistant: ctx.config.assistant.name,
    maxFileBytes: ctx.config.files.maxBytes,
    accepting: () => ctx.accepting(),
    keepAliveMs: (ctx.testing as { webKeepAliveMs?: number }).webKeepAliveMs,
  });
  const host = ['0.0.0.0', '::', '127.0.0.1', '::1'].includes(ctx.config.host) ? 'localhost' : ctx.config.host;
  const url = `http://${host}:${ctx.server.port}${BASE}`;
  return {
    name: 'web',
    keys: webKeys,
    routes: web.app,
    hub,
    url,
    banner: `Playground: open ${url}${token ? ' (it asks for PLAYGROUND_TOKEN)' : ''}`,
    sinkFor: (target) => {
      const key = webKeys.encode({ room: String(target.room), conversation: String(target.conversation) });
      // the reply id ties a reply's pieces together on the page: the message's own, when the target has it
      return new WebSink(hub, key, typeof target.reply === 'string' ? target.reply : `restored-${Date.now()}`, fileUrl);
    },
    // the bytes came with the message; the engine checked size and type from what the browser declared
    fetchFile: async (ref: SharedFileRef, maxBytes: number): Promise<SharedFile> => {
      const f = ref.url.startsWith('upload:') ? await hub.takeUpload(ref.url.slice('upload:'.length)) : undefined;
      if (!f) throw new Error('the upload is gone (the playground keeps it ten minutes)');
      if (f.bytes.byteLength > maxBytes) throw new Error('it is larger than FILE_MAX_BYTES');
      return { name: ref.name, contentType: f.contentType || ref.contentType, bytes: f.bytes };
    },
    isConnected: () => true,
    stop: async () => web.close(),
  };
}
