import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A file the page loads, read once at start. */
export interface Asset {
  body: string;
  contentType: string;
}

/**
 * The page's own script and styles (adapters/web/public, beside this file when run from source,
 * three folders up from dist/adapters/web when compiled), and the two libraries it renders
 * Markdown with, served from node_modules as published: marked, and DOMPurify over its output.
 */
export function loadAssets(): Record<string, Asset> {
  const here = dirname(fileURLToPath(import.meta.url));
  const pub = [join(here, 'public'), join(here, '..', '..', '..', 'adapters', 'web', 'public')].find((d) => existsSync(join(d, 'app.js')));
  if (!pub) throw new Error('the playground page (adapters/web/public) is missing from this installation');
  const require = createRequire(import.meta.url);
  const js = 'text/javascript; charset=utf-8';
  return {
    'app.js': { body: readFileSync(join(pub, 'app.js'), 'utf8'), contentType: js },
    'app.css': { body: readFileSync(join(pub, 'app.css'), 'utf8'), contentType: 'text/css; charset=utf-8' },
    // ES module builds, so the page imports them without a bundler
    'marked.js': { body: readFileSync(require.resolve('marked'), 'utf8'), contentType: js },
    'purify.js': { body: readFileSync(join(dirname(require.resolve('dompurify')), 'purify.es.mjs'), 'utf8'), contentType: js },
  };
}
