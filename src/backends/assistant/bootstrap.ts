import { createHash } from 'node:crypto';
import type { AssistantClient, Tool } from '../../assistant/index.js';
import type { Store } from '../../store/index.js';
import { withLock } from '../../store/index.js';

/** The assistant Threadline talks to (from ASSISTANT_* in the configuration). */
export interface AssistantSettings {
  /** Use this existing assistant as it is. */
  id?: string;
  name: string;
  model: string;
  instructions: string;
  /** Built-in tool types and plug-in ids, e.g. `text_to_image`, `code_interpreter`, `my_plugin`. */
  tools: string[];
  /** Plug-in user tokens by plug-in id; sent with each run, never logged. */
  pluginTokens: Record<string, string>;
}

export interface ReadyAssistant {
  id: string;
  /** Tool types of the assistant (without auth), for help texts. */
  toolTypes: string[];
  /** The assistant's tools as sent on each run (whole, with plug-in auth attached). */
  runTools: Tool[];
  /** Names of the assistant's own function tools. */
  functions: string[];
  action: 'retrieved' | 'found' | 'updated' | 'created';
}

const TAG = 'threadline';

/**
 * Makes sure the assistant exists. With ASSISTANT_ID it is retrieved and used as it is.
 * Otherwise the bot's own assistant is found again by name and a metadata tag, updated when the
 * configuration changed (a hash in its metadata says), or created. A store lock makes this
 * idempotent across instances starting together.
 */
export async function ensureAssistant(api: AssistantClient, store: Store, settings: AssistantSettings): Promise<ReadyAssistant> {
  if (settings.id) {
    const a = await api.assistants.retrieve(settings.id);
    return ready(a.id, a.tools ?? [], settings, 'retrieved');
  }
  const tools: Tool[] = settings.tools.map((type) => ({ type }));
  const hash = createHash('sha256')
    .update(JSON.stringify({ model: settings.model, instructions: settings.instructions, tools: settings.tools }))
    .digest('hex')
    .slice(0, 16);
  const metadata = { [TAG]: 'managed', config: hash };
  return withLock(
    store,
    `bootstrap:${settings.name}`,
    async () => {
      const mine = (await api.assistants.all()).filter((a) => a.name === settings.name && a.metadata?.[TAG] === 'managed');
      const existing = mine.sort((x, y) => (x.created_at ?? 0) - (y.created_at ?? 0))[0];
      if (existing && existing.metadata?.config === hash) return ready(existing.id, existing.tools ?? tools, settings, 'found');
      if (existing) {
        const a = await api.assistants.update(existing.id, { model: settings.model, instructions: settings.instructions, tools, metadata });
        return ready(a.id, a.tools ?? tools, settings, 'updated');
      }
      const a = await api.assistants.create({ name: settings.name, model: settings.model, instructions: settings.instructions, tools, metadata });
      return ready(a.id, a.tools ?? tools, settings, 'created');
    },
    { ttlMs: 30_000, waitMs: 60_000 },
  );
}

function ready(id: string, tools: Tool[], settings: AssistantSettings, action: ReadyAssistant['action']): ReadyAssistant {
  // A run's `tools` replaces the assistant's list (Runs reference): send the assistant's own tools
  // whole, every field kept, its function tools too (their calls get an error output when no
  // local handler exists), with plug-in auth attached; local functions are added per run.
  const runTools = tools.map((t) => {
    const token = t.type !== 'function' ? settings.pluginTokens[t.type] : undefined;
    return token ? { ...t, auth: { type: 'user_http' as const, user_token: token } } : t;
  });
  const toolTypes = tools.filter((t) => t.type !== 'function').map((t) => t.type);
  const functions = tools.flatMap((t) => (t.type === 'function' && 'function' in t && t.function ? [(t.function as { name: string }).name] : []));
  return { id, toolTypes, runTools, functions, action };
}
