import knex, { type Knex } from 'knex';
import type { Logger } from 'pino';
import type { DatabaseConfig } from './config.ts';

export type { Knex };

/**
 * Opens the app's database through knex. The client follows the DATABASE_URL scheme; on PostgreSQL
 * an optional schema becomes the search_path, so our ledger sits beside the app's tables.
 */
export function createDb(cfg: DatabaseConfig, logger?: Logger): Knex {
  // knex prints its warnings (a failed connection attempt, say) to the console; they belong in our log.
  const log = {
    warn: (m: unknown) => logger?.debug({ knex: String(m) }, 'knex warning'),
    error: (m: unknown) => logger?.debug({ knex: String(m) }, 'knex error'),
    deprecate: () => {},
    debug: () => {},
  };
  if (cfg.client === 'pg') {
    return knex({
      log,
      client: 'pg',
      connection: cfg.url,
      ...(cfg.schema ? { searchPath: [cfg.schema] } : {}),
      pool: { min: 0, max: cfg.poolMax },
      // Fail a query within seconds when the server is gone, so the job can wait and retry
      // instead of sitting on a connection that will never come.
      acquireConnectionTimeout: 10_000,
    });
  }
  if (cfg.client === 'mysql2') {
    return knex({
      log,
      client: 'mysql2',
      connection: { uri: cfg.url, supportBigNumbers: true, bigNumberStrings: true } as Knex.MySql2ConnectionConfig,
      pool: { min: 0, max: cfg.poolMax },
      acquireConnectionTimeout: 10_000,
    });
  }
  const filename = cfg.url.replace(/^(sqlite|file):(\/\/)?/, '');
  return knex({
    log,
    client: 'better-sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    pool: { min: 1, max: 1 },
  });
}

export function dialectOf(db: Knex): 'pg' | 'mysql' | 'sqlite' {
  const client = String(db.client.config.client);
  if (client === 'pg' || client === 'postgres' || client === 'postgresql') return 'pg';
  if (client.startsWith('mysql')) return 'mysql';
  return 'sqlite';
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08001',
  '08003',
  '08006',
]);

/**
 * True when the error says the database could not be reached, rather than that the query was wrong.
 * Such errors make a job wait for the database instead of spending its attempts.
 */
export function isConnectionError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; name?: unknown; message?: unknown };
  if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
  if (e.name === 'KnexTimeoutError') return true;
  const msg = typeof e.message === 'string' ? e.message : '';
  return /Connection terminated|connect ECONNREFUSED|terminating connection|Connection lost|server closed the connection|the database system is (starting up|shutting down)/i.test(
    msg,
  );
}

/** Opens a connection once, so a wrong DATABASE_URL ends the command at start with one line. */
export async function checkDatabase(db: Knex): Promise<void> {
  await db.raw('select 1');
}
