import { readFileSync } from 'node:fs';

/** One named assistant, as Threadline runs it. */
export interface AssistantEntry {
  /** The name in the file (`default` is the one every place without a route uses). */
  name: string;
  backend: 'assistant' | 'responses';
  /** An existing Assistant API assistant, used as it is. */
  id?: string;
  /** What a created (or updated) assistant is named at DashScope: `<ASSISTANT_NAME>-<name>`, or ASSISTANT_NAME for `default`. */
  dashscopeName: string;
  model: string;
  instructions: string;
  /** Built-in tools and plug-ins (`text_to_image`, `code_interpreter`, `web_search`, plug-in ids). */
  tools: string[];
  /** Plug-in tokens, resolved from the environment variables the file names (never written in it). */
  pluginTokens: Record<string, string>;
  /** The local function tools it may use; undefined = all of them. */
  functions?: string[];
  /** Token budgets that replace BUDGET_TOKENS_PER_USER_DAY / _PER_CHANNEL_DAY for this assistant. */
  budget?: { perUserDay?: number; perChannelDay?: number };
}

/** Which assistant answers where: the first rule that matches wins, `default` otherwise. */
export interface AssistantRoute {
  slack?: { team?: string; channel?: string; dm?: boolean };
  discord?: { guild?: string; channel?: string; dm?: boolean };
  assistant: string;
}

export interface AssistantsSpec {
  assistants: Record<string, AssistantEntry>;
  routes: AssistantRoute[];
}

type Problem = { variable: string; problem: string; docs?: string };

/**
 * Reads ASSISTANTS_FILE (JSON). Every problem names the entry and the field, e.g.
 * `assistants.support.model: must be a string`; tokens are referenced by environment variable and
 * never read from the file itself.
 *
 * @example readAssistantsFile('./assistants.json', process.env, defaults, problems)
 */
export function readAssistantsFile(
  path: string,
  env: (name: string) => string | undefined,
  defaults: Omit<AssistantEntry, 'name' | 'dashscopeName'> & { baseName: string },
  problems: Problem[],
): AssistantsSpec | undefined {
  const at = (field: string, problem: string) => problems.push({ variable: 'ASSISTANTS_FILE', problem: `${field}: ${problem}`, docs: 'Many assistants' });
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (err) {
    problems.push({ variable: 'ASSISTANTS_FILE', problem: `cannot be read as JSON (${(err as { code?: string }).code ?? (err as Error).message.slice(0, 120)})`, docs: 'Many assistants' });
    return undefined;
  }
  if (!isObject(raw) || !isObject(raw.assistants)) {
    at('assistants', 'must be an object of named assistants');
    return undefined;
  }
  const assistants: Record<string, AssistantEntry> = {};
  for (const [name, e] of Object.entries(raw.assistants)) {
    const f = `assistants.${name}`;
    if (!/^[a-z0-9][a-z0-9_-]{0,40}$/i.test(name)) at(f, 'a name is letters, digits, - and _ (at most 41)');
    if (!isObject(e)) {
      at(f, 'must be an object');
      continue;
    }
    const str = (k: string): string | undefined => {
      const v = e[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || !v.trim()) at(`${f}.${k}`, 'must be a non-empty string');
      return typeof v === 'string' && v.trim() ? v.trim() : undefined;
    };
    const strings = (k: string): string[] | undefined => {
      const v = e[k];
      if (v === undefined) return undefined;
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || !x)) {
        at(`${f}.${k}`, 'must be a list of names');
        return undefined;
      }
      return v as string[];
    };
    const backend = str('backend') ?? defaults.backend;
    if (backend !== 'assistant' && backend !== 'responses') at(`${f}.backend`, 'must be assistant or responses');
    const id = str('assistant_id');
    if (id && backend === 'responses') at(`${f}.assistant_id`, 'names an Assistant API assistant: it needs backend assistant');
    const pluginTokens: Record<string, string> = {};
    if (e.plugins !== undefined) {
      if (!isObject(e.plugins)) at(`${f}.plugins`, 'must be an object: {"<plugin id>": {"token_env": "<VARIABLE>"}}');
      else
        for (const [plugin, p] of Object.entries(e.plugins)) {
          const variable = isObject(p) && typeof p.token_env === 'string' ? p.token_env : undefined;
          if (!variable) {
            at(`${f}.plugins.${plugin}`, 'must name the environment variable holding its token: {"token_env": "…"}');
            continue;
          }
          const token = env(variable);
          if (!token) at(`${f}.plugins.${plugin}.token_env`, `${variable} is not set`);
          else pluginTokens[plugin] = token;
        }
    }
    let budget: AssistantEntry['budget'];
    if (e.budget !== undefined) {
      const b = e.budget;
      const n = (k: string) => (isObject(b) && b[k] !== undefined ? b[k] : undefined);
      const ok = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isInteger(v) && v >= 0);
      if (!isObject(b) || Object.keys(b).some((k) => !['tokens_per_user_day', 'tokens_per_channel_day'].includes(k)) || !ok(n('tokens_per_user_day')) || !ok(n('tokens_per_channel_day')))
        at(`${f}.budget`, 'takes "tokens_per_user_day" and "tokens_per_channel_day" (whole numbers, 0 = no limit)');
      else budget = { perUserDay: n('tokens_per_user_day') as number | undefined, perChannelDay: n('tokens_per_channel_day') as number | undefined };
    }
    const tools = strings('tools');
    const functions = strings('functions');
    assistants[name] = {
      name,
      backend: backend === 'responses' ? 'responses' : 'assistant',
      id,
      dashscopeName: name === 'default' ? defaults.baseName : `${defaults.baseName}-${name}`,
      model: str('model') ?? defaults.model,
      instructions: str('instructions') ?? defaults.instructions,
      tools: tools ?? (id ? [] : defaults.tools),
      pluginTokens: { ...(name === 'default' ? defaults.pluginTokens : {}), ...pluginTokens },
      ...(functions ? { functions } : {}),
      ...(budget ? { budget } : {}),
    };
  }
  assistants.default ??= { ...defaults, name: 'default', dashscopeName: defaults.baseName };
  const routes: AssistantRoute[] = [];
  const rawRoutes = raw.routes ?? [];
  if (!Array.isArray(rawRoutes)) at('routes', 'must be a list');
  else
    rawRoutes.forEach((r: unknown, i) => {
      const f = `routes[${i}]`;
      if (!isObject(r) || typeof r.assistant !== 'string') return void at(f, 'needs "assistant" and a "slack" or "discord" place');
      if (!assistants[r.assistant]) return void at(`${f}.assistant`, `${r.assistant} is not one of the assistants`);
      const place = (k: 'slack' | 'discord', ids: string[]) => {
        const p = r[k];
        if (p === undefined) return undefined;
        if (
          !isObject(p) ||
          Object.keys(p).some((x) => ![...ids, 'dm'].includes(x)) ||
          (p.dm !== undefined && typeof p.dm !== 'boolean') ||
          ids.some((x) => p[x] !== undefined && typeof p[x] !== 'string')
        ) {
          at(`${f}.${k}`, `takes ${ids.map((x) => `"${x}"`).join(', ')} (strings) or "dm": true`);
          return undefined;
        }
        return p as Record<string, string | boolean>;
      };
      const slack = place('slack', ['team', 'channel']);
      const discord = place('discord', ['guild', 'channel']);
      if (r.slack === undefined && r.discord === undefined) return void at(f, 'needs a "slack" or "discord" place');
      if (!slack && !discord) return; // said above
      routes.push({ ...(slack ? { slack } : {}), ...(discord ? { discord } : {}), assistant: r.assistant });
    });
  return { assistants, routes };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
