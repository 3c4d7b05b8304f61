import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Which way dependencies point (shared/DESIGN.md): adapters → engine → backends and store. These
 * read every import of every source file, so a wrong one fails here rather than in review.
 */
const root = resolve(import.meta.dirname, '..');

function files(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    return statSync(join(root, path)).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Each import of a file: the package name, or the imported file's path from the repository root. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2]);
  return specs.map((s) => (s.startsWith('.') ? relative(root, resolve(dirname(join(root, file)), s)).replace(/\.js$/, '.ts') : s));
}

function offenders(dir: string, forbidden: (spec: string, file: string) => boolean): string[] {
  return files(dir).flatMap((f) =>
    importsOf(f)
      .filter((s) => forbidden(s, f))
      .map((s) => `${f} imports ${s}`),
  );
}

const PLATFORM_SDKS = /^(@slack\/|discord\.js|@discordjs\/)/;

describe('boundaries', () => {
  it('the engine imports no platform SDK, no adapter, and no backend beyond the seam (backend.ts, errors.ts)', () => {
    expect(
      offenders(
        'src/engine',
        (s) =>
          PLATFORM_SDKS.test(s) ||
          s === 'openai' ||
          s.startsWith('adapters/') ||
          s.startsWith('src/assistant/') ||
          (s.startsWith('src/backends/') && !['src/backends/backend.ts', 'src/backends/errors.ts'].includes(s)),
      ),
    ).toEqual([]);
  });

  it('the Assistant API client and the backends know nothing of the engine or the platforms', () => {
    const bad = (s: string) => PLATFORM_SDKS.test(s) || s.startsWith('src/engine/') || s.startsWith('adapters/');
    expect([...offenders('src/assistant', bad), ...offenders('src/backends', bad)]).toEqual([]);
  });

  it('an adapter never imports another adapter', () => {
    const adapters = readdirSync(join(root, 'adapters')).filter((d) => statSync(join(root, 'adapters', d)).isDirectory());
    expect(adapters.length).toBeGreaterThanOrEqual(2);
    expect(adapters.flatMap((a) => offenders(`adapters/${a}`, (s) => s.startsWith('adapters/') && !s.startsWith(`adapters/${a}/`)))).toEqual([]);
  });

  it('adapters reach the engine through its narrow side (EnginePort, neutral types), never the concrete Engine', () => {
    expect(offenders('adapters', (s) => s === 'src/engine/engine.ts' || s.startsWith('src/app'))).toEqual([]);
  });

  it('the engine names no platform: keys are opaque to it, and platforms are whatever adapters register', () => {
    const named = files('src/engine').flatMap((f) =>
      readFileSync(join(root, f), 'utf8')
        .split('\n')
        .filter((line) => !/^\s*(\*|\/\/|\/\*)/.test(line) && /['"`](slack|discord|web)['"`:]/.test(line))
        .map((line) => `${f}: ${line.trim()}`),
    );
    expect(named).toEqual([]);
  });

  it('a platform is one folder with its key codec and its module, and one line in the composition root', () => {
    const adapters = readdirSync(join(root, 'adapters')).filter((d) => statSync(join(root, 'adapters', d)).isDirectory());
    expect(adapters.sort()).toEqual(['discord', 'slack', 'web']);
    const app = readFileSync(join(root, 'src/app.ts'), 'utf8');
    for (const a of adapters) {
      expect(files(`adapters/${a}`)).toEqual(expect.arrayContaining([`adapters/${a}/key.ts`, `adapters/${a}/platform.ts`]));
      expect(app).toContain(`${a}Platform`);
    }
  });

  it('the import reader sees imports (a check that cannot fail is no check)', () => {
    expect(importsOf('src/engine/engine.ts')).toContain('src/backends/backend.ts');
    expect(importsOf('adapters/slack/index.ts').some((s) => s.startsWith('@slack/'))).toBe(true);
  });
});
