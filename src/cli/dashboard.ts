import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { parseDashboard } from '../config/config.ts';
import { deliveryTarget } from '../config/cloudinary.ts';
import { ExitError, errorMessage } from '../errors.ts';
import { redisConnection } from '../pipeline/queue.ts';
import { openDatabase, openQueue } from '../pipeline/services.ts';
import { isLoopback, startDashboard } from '../../dashboard/server.ts';
import { println, type CommandIO } from './io.ts';
import { setup } from './setup.ts';

export interface DashboardOptions {
  port: number;
  host: string;
  readOnly?: boolean | undefined;
}

/**
 * `media-migrate dashboard`: the summary page, bull-board, the JSON API and /metrics, until
 * SIGTERM/SIGINT. Every route needs DASHBOARD_USER / DASHBOARD_PASSWORD. Without a password it
 * listens on loopback only, with a one-time password printed at start; on any other address it
 * refuses to start.
 */
export async function dashboardCommand(opts: DashboardOptions, io: CommandIO): Promise<number> {
  const settings = parseDashboard(io.env);
  if (!settings.password && !isLoopback(opts.host)) {
    throw new ExitError(2, `DASHBOARD_PASSWORD: not set; the dashboard will not listen on ${opts.host} without DASHBOARD_USER / DASHBOARD_PASSWORD`);
  }
  // With MEDIA_ROOT here, a batch started from the page records a fingerprint of it.
  const { config, logger, res } = setup(io, io.env.MEDIA_ROOT?.trim() ? ['database', 'redis', 'mediaRoot'] : ['database', 'redis']);
  try {
    const { db, ledger, name } = await openDatabase(config.database, res, logger);
    // This ledger's queue: the one bull-board shows, in the space of this database's ledger.
    const { queue, redis } = await openQueue(config.redis, config.upload, res, logger, name);
    // Redis going away is reported on the page and by /healthz; the log gets one line per error at debug.
    queue.on('error', (err) => logger.debug({ error: errorMessage(err) }, 'dashboard: queue connection error'));
    // Health checks and counters use a connection that gives up on a command instead of queueing it forever.
    const plain = redisConnection(config.redis, { maxRetriesPerRequest: 1 });
    plain.on('error', () => {});
    res.defer('redis (dashboard)', () => plain.quit());

    const password = settings.password ?? randomBytes(12).toString('base64url');
    const readOnly = Boolean(opts.readOnly) || settings.readOnly;
    const dashboard = await startDashboard(
      {
        db,
        ledger,
        queue,
        redis: plain,
        prefix: redis.prefix,
        window: { size: config.redis.window, inFlightMs: config.upload.lockDurationMs },
        delivery: deliveryTarget(io.env),
        storage: config.storage,
        mediaRoot: 'mediaRoot' in config ? (config.mediaRoot as string) : undefined,
        logger,
        auth: { user: settings.user, password },
        readOnly,
        secrets: config.secrets,
      },
      { host: opts.host, port: opts.port },
    ).catch((err: unknown) => {
      const code = (err as { code?: string }).code;
      throw new ExitError(2, `--port ${opts.port} --host ${opts.host}: cannot listen (${code ?? errorMessage(err)})`);
    });
    res.defer('dashboard', () => dashboard.close());

    println(io.stdout, `Dashboard: ${dashboard.url}/   bull-board: ${dashboard.url}/queues   metrics: ${dashboard.url}/metrics`);
    if (!settings.password) {
      println(io.stdout, `DASHBOARD_PASSWORD is not set: log in as "${settings.user}" with the one-time password ${password}`);
      logger.warn('DASHBOARD_PASSWORD not set: loopback only, with a one-time password printed on stdout');
    }
    logger.info({ url: dashboard.url, user: settings.user, readOnly }, 'dashboard listening');
    if (io.signal && !io.signal.aborted) await once(io.signal, 'abort');
    logger.info('dashboard stopping');
    return 0;
  } finally {
    await res.close();
  }
}
