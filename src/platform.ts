import type { Hono } from 'hono';
import type { Config, Role } from './config.js';
import type { Intake } from './engine/intake.js';
import type { EnginePort } from './engine/port.js';
import type { PlatformPort } from './engine/types.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { Store } from './store/index.js';

/**
 * A chat platform as the composition root sees it: one folder under adapters/ exports a
 * `PlatformModule`, and adding it to the list in app.ts is all it takes to run it.
 *
 * The engine sees less (`PlatformPort`: its key codec, sinks for stored targets, file downloads);
 * the adapter sees less of the engine (`EnginePort`).
 */
export interface Platform extends PlatformPort {
  /** The prefix of its conversation keys and of its reply targets' `platform`. */
  readonly name: string;
  /** HTTP routes it serves on Threadline's server (Slack's events, the playground's page and API). */
  readonly routes?: Hono;
  /** Whether it can take and answer messages now (/readyz). */
  isConnected(): boolean;
  /** Handles what instances that died had acknowledged and not taken care of; returns how many. */
  replayOrphans?(): Promise<number>;
  /** A line for the operator once it runs (the playground's URL). */
  readonly banner?: string;
  stop(): Promise<void>;
}

/** What every platform gets to start with. */
export interface PlatformContext {
  config: Config;
  engine: EnginePort;
  store: Store;
  log: Logger;
  metrics: Metrics;
  /** Events recorded before they are acknowledged. */
  intake: Intake;
  /** Whether Threadline takes new messages (false while it stops, or while DashScope is not answering yet). */
  accepting(): boolean;
  /** The named assistants (ASSISTANTS_FILE), for platforms that offer them as choices. */
  assistantNames: string[];
  /**
   * The platform refused a request for the bot's overall rate (Discord's global limit): fewer turns
   * run at once, on the same additive-increase, multiplicative-decrease pace as DashScope's 429s.
   * A limit on one channel or one method is the adapter's to wait out, not a reason to slow every turn.
   */
  throttled: (by: string) => void;
  /** Where Threadline's server listens. */
  server: { port: number };
  /** Test knobs (see StartOptions.testing). */
  testing: Record<string, unknown>;
}

export interface PlatformModule {
  readonly name: string;
  /** Route prefixes answered 503 while it starts (Slack retries on 503 and would give up on 404). */
  readonly routePrefixes?: string[];
  /** `web` (it takes HTTP, scales out) or `gateway` (it holds a connection); THREADLINE_ROLES picks what an instance runs. */
  role(config: Config): Role;
  /** Whether the configuration asks for it (a platform's own variables: `config.env('NAME')`). */
  enabled(config: Config): boolean;
  /** What is wrong with its settings, one line per variable; Threadline refuses to start with any. */
  problems?(config: Config): Array<{ variable: string; problem: string }>;
  start(ctx: PlatformContext): Promise<Platform>;
}
