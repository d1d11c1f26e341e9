import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config, DatabaseConfig, LedgerName, RedisConfig, UploadConfig } from '../config/config.ts';
import { databaseLabel } from '../config/database-label.ts';
import type { RunBatchDeps } from './run-batch.ts';
import { checkDatabase, connectFailure, createDb, missingSqliteFile } from '../db/connect.ts';
import { ExitError, errorMessage } from '../errors.ts';
import { Ledger } from '../ledger/ledger.ts';
import type { RecordQueue } from './queue.ts';
import { inLedgerSpace, noteLedger } from './ledger-space.ts';
import type { Resources } from '../resources.ts';
import type { Uploader } from '../cloudinary/uploader.ts';

/**
 * Opening each real service, with the one-line error that names the setting when it cannot be
 * reached. Commands call these; tests build the same services with their own settings.
 *
 * The queue's module is imported when first opened: it loads bullmq, which the commands that only
 * read the ledger (`status`, `report`) never use. Cloudinary is opened by open-uploader.ts, which the
 * pipeline's commands call before they load this, and handed in.
 */

function reasonOf(err: unknown): string {
  const e = err as { code?: string; errors?: { code?: string }[] };
  return e.code ?? e.errors?.[0]?.code ?? errorMessage(err).split('\n')[0] ?? 'unknown error';
}

/** The database with its ledger open, and the ledger as Redis and the logs know it (its id and database). */
export interface OpenedDatabase {
  db: Knex;
  ledger: Ledger;
  name: Omit<LedgerName, 'queuePrefix'>;
}

export async function openDatabase(cfg: DatabaseConfig, res: Resources, logger?: Logger): Promise<OpenedDatabase> {
  const missing = missingSqliteFile(cfg);
  if (missing) throw new ExitError(2, missing);
  const db = createDb(cfg, logger);
  res.defer('database', () => db.destroy());
  try {
    await checkDatabase(db);
  } catch (err) {
    throw new ExitError(2, `DATABASE_URL: cannot connect to the database: ${connectFailure(err, cfg)}`);
  }
  if (cfg.client === 'pg' && cfg.schema) {
    // Else the first statement fails with PostgreSQL's "no schema has been selected to create in".
    const r = (await db.raw('select 1 from pg_namespace where nspname = ?', [cfg.schema])) as { rows: unknown[] };
    if (r.rows.length === 0) throw new ExitError(2, `DATABASE_SCHEMA=${cfg.schema}: no such schema in the database DATABASE_URL names`);
  }
  const ledger = new Ledger(db);
  const identity = await ledger.open();
  const name = { id: identity.id, database: databaseLabel(cfg) };
  if (identity.copiedFrom) {
    logger?.warn(
      { ledger: identity.id, copiedFrom: identity.copiedFrom, database: name.database },
      `the ledger in ${name.database} is a copy of another database's (ledger ${identity.copiedFrom}); it now has an id of its own, ${identity.id}, so its work in Redis stays apart from the original's`,
    );
  }
  return { db, ledger, name };
}

/**
 * Redis, and this ledger's queue in it. Redis is reached while the database is still being opened;
 * the queue waits for the ledger's id (`ledger`), which names the space all of its keys live in
 * (ledger-space.ts). The returned settings carry that space: use them, not QUEUE_PREFIX's.
 */
export async function openQueue(
  cfg: RedisConfig,
  upload: UploadConfig,
  res: Resources,
  logger: Logger | undefined,
  ledger: Omit<LedgerName, 'queuePrefix'> | Promise<Omit<LedgerName, 'queuePrefix'>>,
): Promise<{ connection: Redis; queue: RecordQueue; redis: RedisConfig }> {
  const { checkRedis, createQueue, evictionWarning, redisConnection } = await import('./queue.ts');
  try {
    await checkRedis(cfg);
  } catch (err) {
    const u = new URL(cfg.url);
    throw new ExitError(2, `REDIS_URL: cannot connect to Redis at ${u.hostname}:${u.port || 6379} (${reasonOf(err)})`);
  }
  const connection = redisConnection(cfg);
  connection.on('error', () => {}); // ioredis reconnects by itself; the worker logs what matters
  res.defer('redis', () => connection.quit());
  const redis = inLedgerSpace(cfg, await ledger);
  const queue = createQueue(redis, connection, upload);
  res.defer('queue', () => queue.close());
  const [warning, others] = await Promise.all([evictionWarning(connection), noteLedger(connection, redis.ledger!)]);
  if (warning) logger?.warn({ setting: 'maxmemory-policy' }, warning);
  if (others.size > 0) {
    logger?.info(
      { ledger: redis.ledger!.id, others: [...others.keys()] },
      `QUEUE_PREFIX=${cfg.prefix} on this Redis also serves ${[...others.values()].join(', ')}; each database's work stays apart under its own ledger id (this one: ${redis.ledger!.database}, ledger ${redis.ledger!.id})`,
    );
  }
  return { connection, queue, redis };
}

/**
 * Awaits every promise, then throws the first failure in the order given (the message a user gets
 * does not depend on which service answered first), or returns every value. Unlike Promise.all, no
 * opening is left running after the command has given up and closed what it had.
 */
export async function settleAll<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(promises);
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/**
 * Everything a worker needs, opened side by side (database, Redis, and Cloudinary, whose opening with
 * its credentials check the caller started first: see open-uploader.ts), for `migrate`, `stage` and
 * `worker` alike. A caller that already started opening the database passes that opening in too.
 */
export async function openPipeline(
  config: Config<'database' | 'redis' | 'mediaRoot' | 'cloudinary'>,
  res: Resources,
  logger: Logger,
  opened: { database?: Promise<OpenedDatabase>; uploader: Promise<Uploader> },
): Promise<RunBatchDeps> {
  // Side by side: the credentials check alone waits for a round trip to Cloudinary.
  const opening = opened.database ?? openDatabase(config.database, res, logger);
  const name = opening.then((d) => d.name);
  // The database's failure is reported through `opening`; the queue may not have asked for the name yet.
  name.catch(() => {});
  const [{ db, ledger }, { connection, queue, redis }, uploader] = await settleAll([
    opening,
    openQueue(config.redis, config.upload, res, logger, name),
    opened.uploader,
  ] as const);
  return {
    db,
    ledger,
    queue,
    connection,
    uploader,
    logger,
    redis,
    upload: config.upload,
    mediaRoot: config.mediaRoot,
    cloudName: config.cloudinary.cloudName,
  };
}
