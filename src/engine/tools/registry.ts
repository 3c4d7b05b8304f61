import { Ajv, type ValidateFunction } from 'ajv';
import type { FunctionTool } from '../../backends/backend.js';

/** One validator for every tool's declared parameters (unknown keywords are allowed: models' schemas vary). */
const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false });

/** Context a tool handler gets: who asked, and a signal that fires at the tool timeout. */
export interface ToolContext {
  conversationKey: string;
  /** The author of the turn's last message. */
  userId?: string;
  /** Everyone whose messages this turn answers, in order (a turn can carry several people's messages). */
  authors?: Array<{ id: string; name: string }>;
  signal: AbortSignal;
}

/** A local function tool the assistant may call. */
export interface LocalTool {
  name: string;
  description: string;
  /** JSON schema of the arguments object. */
  parameters: Record<string, unknown>;
  /** Returns the output (or a promise of it): a string is sent as it is, anything else as JSON. */
  handler: (args: Record<string, unknown>, ctx: ToolContext) => unknown;
  /** Per-call timeout (default 30 s). */
  timeoutMs?: number;
}

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * An error whose message is meant for the model (a bad argument it can correct): passed on as the
 * tool's output. Any other error reaches the model only as "<tool> failed" (details in the log),
 * since an error's text can carry a URL with a key, and the model can repeat it.
 *
 * @example throw new ToolError(`unknown time zone ${zone}`)
 */
export class ToolError extends Error {
  override readonly name = 'ToolError';
}

/**
 * The function tools Threadline runs locally when a run asks for them. An unknown name, bad
 * JSON arguments, a throwing handler or a timeout all become an error output for the run —
 * never a crash or a stuck run.
 */
export class ToolRegistry {
  private readonly tools = new Map<string, LocalTool>();
  private readonly validators = new Map<string, ValidateFunction>();

  register(tool: LocalTool): this {
    if (!NAME.test(tool.name)) throw new TypeError(`tool name must match ${NAME}: ${tool.name}`);
    if (typeof tool.handler !== 'function') throw new TypeError(`tool ${tool.name} has no handler`);
    let validate: ValidateFunction;
    try {
      validate = ajv.compile(tool.parameters ?? { type: 'object' });
    } catch (err) {
      throw new TypeError(`tool ${tool.name} declares parameters that are not a JSON schema: ${(err as Error).message}`, { cause: err });
    }
    this.tools.set(tool.name, tool);
    this.validators.set(tool.name, validate);
    return this;
  }

  has(name: string): boolean {
    return this.tools.has(name);
  }

  list(): LocalTool[] {
    return [...this.tools.values()];
  }

  /** Definitions offered to the model with each turn, next to the assistant's own tools. */
  definitions(): FunctionTool[] {
    return this.list().map((t) => ({ name: t.name, description: t.description, parameters: t.parameters }));
  }

  /** Runs one call and returns the output string submitted to the run. */
  async call(name: string, rawArgs: string, ctx: Omit<ToolContext, 'signal'>): Promise<{ output: string; ok: boolean; ms: number; error?: unknown }> {
    const started = performance.now();
    const done = (output: unknown, ok: boolean, error?: unknown) => ({ output: typeof output === 'string' ? output : JSON.stringify(output ?? null), ok, ms: performance.now() - started, error });
    const tool = this.tools.get(name);
    if (!tool) return done({ error: `unknown function ${name}` }, false);
    let args: Record<string, unknown>;
    try {
      args = rawArgs?.trim() ? (JSON.parse(rawArgs) as Record<string, unknown>) : {};
      if (!args || typeof args !== 'object' || Array.isArray(args)) throw new Error('arguments must be a JSON object');
    } catch (err) {
      return done({ error: `invalid arguments: ${(err as Error).message}` }, false);
    }
    // the model's arguments are checked against the tool's declared schema before its handler sees them
    const validate = this.validators.get(name)!;
    if (!validate(args)) return done({ error: `invalid arguments: ${ajv.errorsText(validate.errors, { dataVar: 'arguments' })}` }, false);
    const timeoutMs = tool.timeoutMs ?? 30_000;
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        Promise.resolve().then(() => tool.handler(args, { ...ctx, signal: ac.signal })),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs))),
      ]);
      return done(result, true);
    } catch (err) {
      ac.abort();
      const timedOut = err instanceof Error && err.message === `timed out after ${timeoutMs} ms`;
      if (timedOut || err instanceof ToolError) return done({ error: `${name} failed: ${(err as Error).message}` }, false, timedOut ? undefined : err);
      return done({ error: `${name} failed; the details are in the operator's log` }, false, err);
    } finally {
      clearTimeout(timer);
    }
  }
}
