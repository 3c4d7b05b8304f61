import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Threadline's Prometheus metrics, in a registry of its own (so tests and several app instances
 * in one process never collide).
 */
export class Metrics {
  readonly registry = new Registry();
  readonly eventsReceived = new Counter({
    name: 'threadline_events_received_total',
    help: 'Inbound platform events by platform and kind',
    labelNames: ['platform', 'kind'],
    registers: [this.registry],
  });
  readonly repliesSent = new Counter({ name: 'threadline_replies_sent_total', help: 'Replies posted by platform and type', labelNames: ['platform', 'type'], registers: [this.registry] });
  readonly runs = new Counter({ name: 'threadline_runs_total', help: 'Assistant runs by final status', labelNames: ['status'], registers: [this.registry] });
  readonly runDuration = new Histogram({
    name: 'threadline_run_duration_seconds',
    help: 'Run duration from Run.create to the final status',
    buckets: [0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160, 320],
    registers: [this.registry],
  });
  readonly firstText = new Histogram({
    name: 'threadline_time_to_first_text_seconds',
    help: 'Time from Run.create to the first streamed text',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20],
    registers: [this.registry],
  });
  readonly feedback = new Counter({
    name: 'threadline_feedback_total',
    help: 'Feedback on replies (the 👍/👎 buttons) by platform and value',
    labelNames: ['platform', 'value'],
    registers: [this.registry],
  });
  readonly slackRateLimited = new Counter({
    name: 'threadline_slack_rate_limited_total',
    help: 'Slack Web API 429 answers by method (each waited out for that method only)',
    labelNames: ['method'],
    registers: [this.registry],
  });
  readonly discordRateLimited = new Counter({
    name: 'threadline_discord_rate_limited_total',
    help: 'Discord REST rate limits by route: `429` answers, and `waited` when the client held a request back for a bucket it knew was empty',
    labelNames: ['route', 'kind'],
    registers: [this.registry],
  });
  readonly toolCalls = new Counter({ name: 'threadline_tool_calls_total', help: 'Local function tool calls by tool and outcome', labelNames: ['tool', 'outcome'], registers: [this.registry] });
  readonly queueDepth = new Gauge({ name: 'threadline_queue_depth', help: 'Messages waiting for a run to finish in their conversation', registers: [this.registry] });
  /** Read when scraped: the composition root points it at the image fetcher. */
  heldImageBytes: () => number = () => 0;
  /** Read when scraped: turns answering in this process, and events it acknowledged that are not yet taken care of. */
  turnsNow: () => number = () => 0;
  intakeNow: () => number = () => 0;
  /** Read when scraped: the turn queue's backlog and the current concurrency limit. */
  backlogNow: () => { waiting: number; oldestSeconds: number; limit: number } = () => ({ waiting: 0, oldestSeconds: 0, limit: 0 });
  readonly backlog: Gauge = new Gauge({
    name: 'threadline_turn_backlog',
    help: 'Conversations with messages waiting for a free turn slot on this instance (the messages wait in the store)',
    registers: [this.registry],
    collect: (): void => this.backlog.set(this.backlogNow().waiting),
  });
  readonly backlogOldest: Gauge = new Gauge({
    name: 'threadline_turn_backlog_oldest_seconds',
    help: 'How long the longest-waiting conversation has waited for a turn slot',
    registers: [this.registry],
    collect: (): void => this.backlogOldest.set(this.backlogNow().oldestSeconds),
  });
  readonly turnConcurrency: Gauge = new Gauge({
    name: 'threadline_turn_concurrency',
    help: 'Turns this instance may run at once now (TURN_CONCURRENCY, halved while DashScope throttles)',
    registers: [this.registry],
    collect: (): void => this.turnConcurrency.set(this.backlogNow().limit),
  });
  readonly turnWait = new Histogram({
    name: 'threadline_turn_wait_seconds',
    help: 'How long a conversation waited for a free turn slot',
    buckets: [0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly turnsInFlight: Gauge = new Gauge({
    name: 'threadline_turns_in_flight',
    help: 'Turns being answered by this instance right now',
    registers: [this.registry],
    collect: (): void => this.turnsInFlight.set(this.turnsNow()),
  });
  readonly intakePending: Gauge = new Gauge({
    name: 'threadline_intake_pending',
    help: 'Events this instance acknowledged and recorded that are not yet queued or answered',
    registers: [this.registry],
    collect: (): void => this.intakePending.set(this.intakeNow()),
  });
  readonly imageBytesHeld: Gauge = new Gauge({
    name: 'threadline_image_bytes_held',
    help: 'Bytes of downloaded images held in memory until their reply is uploaded (bounded for the process)',
    registers: [this.registry],
    collect: (): void => this.imageBytesHeld.set(this.heldImageBytes()),
  });
  readonly tokens = new Counter({
    name: 'threadline_tokens_total',
    help: 'Tokens used by turns, by assistant and kind (input, output)',
    labelNames: ['assistant', 'kind'] as const,
    registers: [this.registry],
  });
  readonly activeMeetings = new Gauge({ name: 'threadline_active_meetings', help: 'Meetings taking notes right now (this instance)', registers: [this.registry] });
  readonly dashscopeErrors = new Counter({ name: 'threadline_dashscope_errors_total', help: 'DashScope error responses by code', labelNames: ['code'], registers: [this.registry] });
  readonly dashscopeRequests = new Counter({
    name: 'threadline_dashscope_requests_total',
    help: 'DashScope HTTP requests by method and status',
    labelNames: ['method', 'status'],
    registers: [this.registry],
  });

  constructor(opts: { defaults?: boolean } = {}) {
    if (opts.defaults) collectDefaultMetrics({ register: this.registry, prefix: 'threadline_' });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
