import { once } from 'node:events';
import { join } from 'node:path';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { errorMessage } from '../src/errors.ts';
import { PACKAGE_ROOT } from '../src/package-root.ts';
import { scrubber } from '../src/secrets.ts';
import { AUTH_CHALLENGE, credentialsChecker } from './auth.ts';
import { createBoard } from './bull-board.ts';
import { CSRF_HEADER, csrfRefusal, newCsrfToken } from './csrf.ts';
import type { DashboardDeps } from './deps.ts';
import { actionHandlers } from './handlers/actions.ts';
import { batchHandlers } from './handlers/batches.ts';
import { healthHandler } from './handlers/health.ts';
import { recordHandlers } from './handlers/records.ts';
import { startHandlers } from './handlers/start.ts';
import { HttpError, HttpStatus, type DashboardRequest, type Handler } from './http.ts';
import { createMetrics } from './metrics.ts';
import { cacheCounts } from './counts-cache.ts';

/**
 * The dashboard as an Express app built from injected services. Every request passes, in order:
 * secret scrubbing of the answer, basic auth, the read-only gate, the CSRF check; then our API,
 * /metrics, /healthz, bull-board at /queues, and the summary page's static files at /.
 */

export const QUEUES_PATH = '/queues';
// From the package root, not from this file: compiled, this file is in dist/dashboard/, the page is not.
const PUBLIC_DIR = join(PACKAGE_ROOT, 'dashboard', 'public');

/** Our own page: scripts, styles and requests from this origin only, and never inside a frame. */
const PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

function firstString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

function toRequest(req: Request): DashboardRequest {
  const query: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(req.query as Record<string, unknown>)) query[k] = firstString(v);
  return { params: req.params as Record<string, string>, query, body: req.body };
}

export interface DashboardApp {
  app: Express;
  /** The token the page sends in X-CSRF-Token (also answered by GET /api/session). */
  csrfToken: string;
}

export function createDashboardApp(given: DashboardDeps): DashboardApp {
  // Every route reads a batch's counts through one cache, whatever polls it (see counts-cache.ts).
  const ledger = cacheCounts(given.ledger);
  const deps: DashboardDeps = { ...given, ledger };
  const app = express();
  const csrfToken = deps.csrfToken ?? newCsrfToken();
  // Each secret as it is, and as it reads inside a JSON string (a `"` or `\` in it is escaped there).
  const scrub = scrubber([...new Set(deps.secrets.filter((s) => s.length >= 4).flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]))]);
  const authorized = credentialsChecker(deps.auth);
  const board = createBoard(deps, { basePath: QUEUES_PATH, summaryHref: '../' });
  const metrics = createMetrics(deps);
  const starter = startHandlers(deps);
  const batches = batchHandlers(deps, (id) => starter.tasks.get(id));
  const actions = actionHandlers(deps);
  const records = recordHandlers(deps);

  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  // Whatever an answer holds (a record's detail, a job's failure reason), no known secret leaves.
  app.use((_req, res, next) => {
    const send = res.send.bind(res);
    res.send = (body?: unknown) => send(typeof body === 'string' ? scrub(body) : Buffer.isBuffer(body) ? Buffer.from(scrub(body.toString('utf8'))) : body);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'same-origin');
    next();
  });

  app.use((req, res, next) => {
    if (authorized(req.headers.authorization)) return next();
    res.setHeader('WWW-Authenticate', AUTH_CHALLENGE);
    res.status(HttpStatus.unauthorized).json({ error: 'authentication required (DASHBOARD_USER / DASHBOARD_PASSWORD)' });
  });

  app.use((req, res, next) => {
    if (deps.readOnly && !['GET', 'HEAD', 'OPTIONS'].includes(req.method)) {
      res.status(HttpStatus.forbidden).json({ error: 'read-only dashboard: actions are disabled' });
      return;
    }
    const refusal = csrfRefusal(req, { token: csrfToken, tokenRequired: !req.path.startsWith(`${QUEUES_PATH}/`) });
    if (refusal) {
      deps.logger.warn({ method: req.method, path: req.path }, `dashboard: ${refusal}`);
      res.status(HttpStatus.forbidden).json({ error: refusal });
      return;
    }
    // An action (a retry, a new batch, bull-board's job buttons) changes counts: count afresh after it.
    if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method)) res.on('finish', () => ledger.forget());
    next();
  });

  const route =
    (handler: Handler) =>
    async (req: Request, res: Response): Promise<void> => {
      const reply = await handler(toRequest(req));
      res.setHeader('Cache-Control', 'no-store');
      if ('csv' in reply) {
        res.status(reply.status);
        res.setHeader('Content-Type', 'text/csv; charset=utf-8');
        res.setHeader('Content-Disposition', `attachment; filename="${reply.filename}"`);
        for await (const line of reply.csv) {
          if (!res.write(scrub(line))) await once(res, 'drain');
        }
        res.end();
        return;
      }
      res.status(reply.status).json(reply.body);
    };

  app.get('/api/session', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ user: deps.auth.user, readOnly: deps.readOnly, csrfToken, csrfHeader: CSRF_HEADER, queuesPath: `${QUEUES_PATH.slice(1)}/` });
  });
  app.get('/api/overview', route(batches.summary));
  app.get('/api/batches', route(batches.list));
  app.get('/api/batches/:id', route(batches.get));
  app.get('/api/batches/:id/records', route(batches.records));
  app.get('/api/batches/:id/records.csv', route(batches.csv));
  app.get('/api/batches/:id/reasons', route(batches.reasons));
  app.get('/api/records', route(records.search));
  app.get('/api/plan', route(starter.plan));
  app.post('/api/batches', express.json({ limit: '16kb' }), route(starter.start));
  app.get('/api/batches/:id/enqueue', route(starter.progress));
  app.post('/api/batches/:id/retry-failed', route(actions.retry));
  app.post('/api/batches/:id/dry-run', route(actions.dryRun));
  app.get('/healthz', route(healthHandler(deps)));
  app.get('/metrics', async (_req, res) => {
    const text = await metrics.render();
    res.setHeader('Content-Type', metrics.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.send(text);
  });

  app.get(`${QUEUES_PATH}/api/queues`, async (_req, _res, next) => {
    await board.refresh();
    next();
  });
  app.use(QUEUES_PATH, board.router);

  app.use(
    express.static(PUBLIC_DIR, {
      index: 'index.html',
      setHeaders: (res) => {
        res.setHeader('Content-Security-Policy', PAGE_CSP);
        res.setHeader('Cache-Control', 'no-cache');
      },
    }),
  );

  app.use((req, res) => {
    res.status(HttpStatus.notFound).json({ error: `not found: ${req.method} ${req.path}` });
  });

  // The one place a failure becomes an answer: a handler's HttpError as it is, anything else a 500.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof HttpError) {
      res.status(err.status).json({ error: err.message });
      return;
    }
    deps.logger.error({ method: req.method, path: req.path, error: errorMessage(err) }, 'dashboard: request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(HttpStatus.internalError).json({ error: 'internal error (see the dashboard log)' });
  });

  return { app, csrfToken };
}
