import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from './helpers.js';

const root = join(import.meta.dirname, '..');

/** Runs Threadline (`src/main.ts`, as `npm start` does) in its own process; resolves once /readyz is 200. */
export interface ChildThreadline {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the process printed. */
  output(): string;
  /** Resolves once the output matches (the pipe may deliver a line after /readyz already answered). */
  waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  /** SIGTERM and wait for the exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
}

export async function startChild(env: Record<string, string>, opts: { port?: number; compiled?: string; nodeArgs?: string[] } = {}): Promise<ChildThreadline> {
  const port = opts.port ?? (await freePort());
  // node itself (with tsx as a loader, as `npm start` runs it; or on a compiled dist/, as the image
  // does): a signal reaches Threadline, not a wrapper
  const argv = [...(opts.nodeArgs ?? []), ...(opts.compiled ? [join(opts.compiled, 'src/main.js')] : ['--import', import.meta.resolve('tsx'), join(root, 'src/main.ts')])];
  const child = spawn(process.execPath, argv, {
    env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', TOOLS_DIR: '/nonexistent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const grew = new EventTarget();
  const take = (d: Buffer) => {
    out += d.toString();
    grew.dispatchEvent(new Event('data'));
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const matches = (pattern: RegExp | string) => (typeof pattern === 'string' ? out.includes(pattern) : pattern.test(out));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${url}/readyz`).catch(() => undefined);
    if (res?.status === 200) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`Threadline did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    url,
    port,
    child,
    output: () => out,
    waitForOutput: (pattern, timeoutMs = 10_000) =>
      new Promise<string>((resolve, reject) => {
        if (matches(pattern)) return resolve(out);
        const timer = setTimeout(() => {
          grew.removeEventListener('data', check);
          reject(new Error(`the output never matched ${String(pattern)}:\n${out}`));
        }, timeoutMs);
        const check = () => {
          if (!matches(pattern)) return;
          clearTimeout(timer);
          grew.removeEventListener('data', check);
          resolve(out);
        };
        grew.addEventListener('data', check);
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A gauge's value from Prometheus text. */
export function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}
