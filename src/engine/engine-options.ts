import type { AssistantRoute } from '../assistants-file.js';
import type { ModelBackend } from '../backends/backend.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/index.js';
import type { BudgetOptions } from './budgets.js';
import { DEFAULT_FILE_TYPES, type FileOptions } from './files.js';
import type { ImageFetcher } from './images.js';
import type { ToolRegistry } from './tools/registry.js';
import type { Inbound, PlatformPort } from './types.js';

/** Meeting notes plug into the engine through this (see src/engine/meetings/). */
export interface MeetingDesk {
  command(m: Inbound, action: 'start' | 'stop' | 'summary' | 'status', title?: string): Promise<void>;
  /** The meeting running in a channel, if any (opaque to the engine). */
  get(channelKey: string): Promise<object | undefined>;
  /** Captures the message when a meeting runs in its channel (`known`: what `get` just gave); a no-op otherwise. */
  capture(m: Inbound, known?: object): Promise<void>;
}

export interface EngineOptions {
  runTimeoutMs?: number;
  idleResetMs?: number;
  turnsPerMinute?: number;
  /** Conversation records expire this long after their last turn (0: never). */
  conversationTtlMs?: number;
  /** A person's messages being answered or waiting here, at most (0: no limit). */
  turnsInFlight?: number;
  /** Longer messages are cut, with a notice (default 12,000 characters). */
  maxInputChars?: number;
  dedupeTtlMs?: number;
  lockTtlMs?: number;
  /** Shown before commands in help (e.g. `@Threadline ` or `/assistant `). */
  commandPrefix?: string;
  /** Files people share: the size cap and the type allowlist (FILE_MAX_BYTES, FILE_TYPES). */
  files?: FileOptions;
  /** ASSISTANTS_FILE's routes: which named assistant a new conversation gets. */
  assistantRoutes?: AssistantRoute[];
  /** People who may switch a channel's assistant besides workspace and server admins (ADMIN_USER_IDS, `platform:id` or a bare id). */
  adminUserIds?: string[];
  /** Token budgets per person and channel per day (BUDGET_TOKENS_PER_USER_DAY, …). */
  budgets?: BudgetOptions;
  /** Turns this instance runs at once at most (TURN_CONCURRENCY); more wait in the store. */
  turnConcurrency?: number;
  /** Conversations waiting for a slot before a warning is logged (BACKLOG_WARN). */
  backlogWarn?: number;
}

export interface EngineDeps {
  /** The model backend every conversation talks to (Assistant API or Responses). */
  backend: ModelBackend;
  store: Store;
  registry: ToolRegistry;
  images: ImageFetcher;
  /** The platforms running on this instance, by name (the prefix of their conversation keys). */
  platforms: Record<string, PlatformPort>;
  log: Logger;
  metrics?: Metrics;
  meetings?: MeetingDesk;
  options?: EngineOptions;
}

/** What the engine does when an option is not given (the composition root passes the configured ones). */
export const ENGINE_DEFAULTS: Required<Omit<EngineOptions, 'idleResetMs'>> = {
  runTimeoutMs: 10 * 60_000,
  turnsPerMinute: 0,
  turnsInFlight: 0,
  conversationTtlMs: 0,
  maxInputChars: 12_000,
  dedupeTtlMs: 24 * 3_600_000,
  lockTtlMs: 10_000,
  commandPrefix: '',
  files: { maxBytes: 20 * 1024 * 1024, types: DEFAULT_FILE_TYPES },
  assistantRoutes: [],
  adminUserIds: [],
  budgets: {},
  turnConcurrency: 32,
  backlogWarn: 100,
};
