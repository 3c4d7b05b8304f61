import { readdir } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LocalTool, ToolRegistry } from './registry.js';

/**
 * Loads operator tools: every `.ts`, `.js` or `.mjs` file in `dir` whose default export is a
 * LocalTool (or an array of them). A missing folder is fine; a broken module fails startup with
 * its file name, because a half-loaded tool set is worse than a clear error.
 */
export async function loadToolsFrom(dir: string, registry: ToolRegistry): Promise<string[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => ['.ts', '.js', '.mjs'].includes(extname(f)) && !f.endsWith('.d.ts') && !f.startsWith('_')).sort();
  } catch (err) {
    // no tools folder: no tools. Any other failure (not a folder, no permission) is the operator's to fix.
    if ((err as { code?: string }).code === 'ENOENT') return [];
    throw new Error(`cannot read TOOLS_DIR ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const loaded: string[] = [];
  for (const file of files) {
    const path = resolve(join(dir, file));
    let mod: { default?: LocalTool | LocalTool[] };
    try {
      mod = (await import(pathToFileURL(path).href)) as typeof mod;
    } catch (err) {
      const ts = extname(file) === '.ts' && (err as { code?: string }).code === 'ERR_UNKNOWN_FILE_EXTENSION';
      throw new Error(
        ts
          ? `cannot load tool module ${file}: the compiled build (npm run start:prod, the Docker image) runs JavaScript only; compile it to .js, or run from source with npm start`
          : `cannot load tool module ${file}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const tools = Array.isArray(mod.default) ? mod.default : mod.default ? [mod.default] : [];
    if (tools.length === 0) throw new Error(`tool module ${file} has no default export (a tool or an array of tools)`);
    for (const t of tools) {
      registry.register(t);
      loaded.push(t.name);
    }
  }
  return loaded;
}
