import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import knex, { type Knex } from 'knex';
import type { Logger } from 'pino';
import type { DatabaseConfig } from '../config/config.ts';
import { sqliteFilename } from '../config/database-label.ts';

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
    // The driver's own parsers come from the driver this knex loaded (asked at the first query, by
    // then it has): one copy of pg, bundled or not.
    let driver: TypeParsers | undefined;
    const getTypeParser = (oid: number, format: string) => {
      if (JSON_OIDS.has(oid)) return (value: string) => value;
      driver ??= (db.client as { driver: { types: TypeParsers } }).driver.types;
      return driver.getTypeParser(oid, format);
    };
    const db = knex({
      log,
      client: 'pg',
      connection: { connectionString: cfg.url, types: { getTypeParser } },
      ...(cfg.schema ? { searchPath: [cfg.schema] } : {}),
      pool: { min: 0, max: cfg.poolMax },
      // Fail a query within seconds when the server is gone, so the job can wait and retry
      // instead of sitting on a connection that will never come.
      acquireConnectionTimeout: 10_000,
    });
    return db;
  }
  if (cfg.client === 'mysql2') {
    const u = new URL(cfg.url);
    return knex({
      log,
      client: 'mysql2',
      connection: {
        host: u.hostname,
        port: Number(u.port || 3306),
        user: decodeURIComponent(u.username),
        password: decodeURIComponent(u.password),
        database: decodeURIComponent(u.pathname.replace(/^\//, '')),
        charset: 'utf8mb4',
        // Keys of bigint tables come back as exact strings, dates as UTC.
        supportBigNumbers: true,
        bigNumberStrings: true,
        timezone: 'Z',
        // A JSON column is a text source's text, as the database holds it (see JSON_OIDS).
        jsonStrings: true,
      } as Knex.MySql2ConnectionConfig,
      pool: { min: 0, max: cfg.poolMax },
      acquireConnectionTimeout: 10_000,
    });
  }
  return knex({
    log,
    client: 'better-sqlite3',
    connection: { filename: sqliteFilename(cfg.url), options: { timeout: 10_000 } } as Knex.BetterSqlite3ConnectionConfig,
    useNullAsDefault: true,
    // One connection: SQLite has one writer anyway, and transactions must not interleave on it.
    // WAL lets other processes (more workers, `status`) read while one writes.
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: { pragma(sql: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
        try {
          conn.pragma('journal_mode = WAL');
          conn.pragma('busy_timeout = 10000');
          done(null, conn);
        } catch (err) {
          done(err as Error, conn);
        }
      },
    },
    acquireConnectionTimeout: 120_000,
  });
}

export { sqliteFilename };

/**
 * `column = value`, compared byte for byte. MySQL's default collations ignore case and trailing
 * spaces: a row the app changed from `A.png` to `a.png` must count as changed, not as ours.
 */
/**
 * As whereExactly, for a text column that may be JSON: PostgreSQL's json type has no equality of its
 * own, so the comparison is on the column's text there.
 */
export function whereTextIs(db: Knex, q: Knex.QueryBuilder, column: string, value: string): Knex.QueryBuilder {
  if (dialectOf(db) === 'pg') return q.whereRaw('??::text = ?', [column, value]);
  return whereExactly(db, q, column, value);
}

export function whereExactly(db: Knex, q: Knex.QueryBuilder, column: string, value: string): Knex.QueryBuilder {
  if (dialectOf(db) === 'mysql') return q.whereRaw('BINARY ?? = ?', [column, value]);
  return q.where(column, value);
}

/**
 * SQLite begins transactions deferred: one that reads and then writes fails at once (SQLITE_BUSY,
 * no busy-wait) if another process wrote in between. Writing first, a no-op update of the row we are
 * about to work on, takes the write lock up front, so the transaction waits its turn instead.
 */
export async function claimSqliteWriteLock(trx: Knex.Transaction, table: string, where: Record<string, unknown>): Promise<void> {
  await trx(table).where(where).update({ id: trx.raw('id') });
}

/**
 * node-postgres parses json and jsonb into objects; a text source (an editor's blocks in a JSONField)
 * needs the text the database holds, to find its URLs and to compare and swap it exactly. The
 * ledger keeps its own JSON in text columns, so nothing of ours wants the objects.
 */
const JSON_OIDS = new Set([114, 3802]);
type TypeParsers = { getTypeParser(oid: number, format: string): (value: string) => unknown };

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

/**
 * Why the server would not let us in, in its own words (`database "shpo" does not exist (3D000)`,
 * `Access denied for user 'app'@'10.0.0.5' (using password: YES) (ER_ACCESS_DENIED_ERROR)`): a bare
 * SQLSTATE sends the user to a manual. The URL's password is taken out, whatever the driver quoted.
 */
export function connectFailure(err: unknown, cfg: Pick<DatabaseConfig, 'url'>): string {
  const e = err as { code?: unknown; message?: unknown; errors?: { code?: unknown; message?: unknown }[] };
  // pg reports every address it tried (IPv4 and IPv6 of localhost, say) as an AggregateError.
  const first = typeof e.message === 'string' && e.message !== '' ? e : (e.errors?.[0] ?? e);
  const message = typeof first.message === 'string' && first.message !== '' ? first.message.split('\n')[0]! : 'unknown error';
  const code = typeof first.code === 'string' ? first.code : typeof e.code === 'string' ? e.code : undefined;
  const text = code && !message.includes(code) ? `${message} (${code})` : message;
  return withoutPassword(text, cfg.url);
}

function withoutPassword(text: string, url: string): string {
  let password = '';
  try {
    password = new URL(url).password;
  } catch {
    return text;
  }
  if (password === '') return text;
  let out = text;
  for (const p of new Set([password, decodeURIComponent(password)])) out = out.split(p).join('[REDACTED]');
  return out;
}

/**
 * A SQLite DATABASE_URL names a file that must exist: better-sqlite3 would otherwise create an empty
 * database there, and a typo in the path would look like an app without tables. Undefined when it
 * exists (or is `:memory:`), else the one line to refuse with. Whoever means a new file (the demo)
 * creates it first.
 */
export function missingSqliteFile(cfg: Pick<DatabaseConfig, 'url' | 'client'>): string | undefined {
  if (cfg.client !== 'better-sqlite3') return undefined;
  const filename = sqliteFilename(cfg.url);
  if (filename === ':memory:' || existsSync(filename)) return undefined;
  return `DATABASE_URL: no SQLite database at ${resolve(filename)} (the file does not exist; check the path)`;
}

/** Opens a connection once, so a wrong DATABASE_URL ends the command at start with one line. */
export async function checkDatabase(db: Knex): Promise<void> {
  await db.raw('select 1');
}
