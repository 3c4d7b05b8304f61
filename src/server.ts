import { Hono } from 'hono';
import { safeEqual } from './safe-equal.js';
import type { Metrics } from './metrics.js';
import type { Readiness } from './readiness.js';

/**
 * The HTTP face of Threadline: /healthz (the process lives), /readyz (it can take traffic),
 * /metrics (Prometheus text); adapters mount their routes (e.g. POST /slack/events) on it.
 *
 * @example const server = createServerApp({ readiness, metrics }); server.mount(slackReceiver.routes)
 */
export interface ServerApp {
  app: Hono;
  /**
   * Adds an adapter's routes once it has started. Hono cannot add routes after the first request
   * (and health checks arrive during startup), so late routes go through a dispatcher that was
   * registered up front.
   */
  mount(routes: Hono): void;
}

export function createServerApp(deps: {
  readiness: Readiness;
  metrics: Metrics;
  metricsToken?: string;
  metricsElsewhere?: boolean;
  /** Route prefixes of platforms still starting: answered 503 (retry later), not 404, until their routes are mounted. */
  startingPrefixes?: string[];
}): ServerApp {
  const app = new Hono();
  const mounted: Hono[] = [];
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', async (c) => {
    const notReady = await deps.readiness.notReady();
    return notReady.length ? c.json({ ready: false, notReady }, 503) : c.json({ ready: true });
  });
  // With METRICS_PORT the metrics live only on that port (a private one), never on the public one.
  if (!deps.metricsElsewhere) app.route('/', createMetricsApp(deps));
  app.all('*', async (c) => {
    for (const routes of mounted) {
      const res = await routes.fetch(c.req.raw, c.env);
      if (res.status !== 404) return res;
    }
    if (deps.startingPrefixes?.some((p) => c.req.path.startsWith(p))) return c.json({ error: 'starting' }, 503);
    // without the playground, / says what this is
    if (c.req.path === '/' && c.req.method === 'GET') return c.text(`Threadline is running. See /healthz${deps.metricsElsewhere ? ' and /readyz' : ', /readyz and /metrics'}.`);
    return c.json({ error: 'not found' }, 404);
  });
  app.notFound((c) => c.json({ error: 'not found' }, 404));
  app.onError((err, c) => {
    // never leak internals; the adapters log their own errors
    void err;
    return c.json({ error: 'internal error' }, 500);
  });
  return { app, mount: (routes) => void mounted.push(routes) };
}

/**
 * GET /metrics (Prometheus text), behind METRICS_TOKEN when it is set: the metrics name conversations'
 * volume and errors. Served by the main app, or alone on METRICS_PORT.
 *
 * @example serve({ fetch: createMetricsApp({ metrics }).fetch, port: 9091 })
 */
export function createMetricsApp(deps: { metrics: Metrics; metricsToken?: string }): Hono {
  const app = new Hono();
  app.get('/metrics', async (c) => {
    if (deps.metricsToken && !safeEqual(c.req.header('authorization') ?? '', `Bearer ${deps.metricsToken}`)) return c.json({ error: 'unauthorized' }, 401);
    return c.text(await deps.metrics.text(), 200, { 'content-type': deps.metrics.registry.contentType });
  });
  return app;
}
