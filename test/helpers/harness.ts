import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import knex, { type Knex } from 'knex';
import { main } from '../../src/cli/main.ts';
import type { CommandIO } from '../../src/cli/io.ts';
import { loadConfig, type Config, type Env } from '../../src/config/config.ts';
import { createDb } from '../../src/db/connect.ts';
import { createShopTables } from '../../src/django/fixture.ts';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/server.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import { databaseLabel } from '../../src/config/database-label.ts';
import { inLedgerSpace } from '../../src/pipeline/ledger-space.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
import { createCloudinaryUploader } from '../../src/cloudinary/uploader.ts';
import { createQueue, redisConnection } from '../../src/pipeline/queue.ts';
import type { RunBatchDeps } from '../../src/pipeline/run-batch.ts';

/**
 * One isolated world per test: its own PostgreSQL schema, its own Redis key prefix, its own media
 * folder and its own emulator, all real, all removed by close(). Tests can run in parallel and rerun.
 */

export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MYSQL_ADMIN_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Which database the suite runs against: the vitest projects set TEST_DB (see vitest.config.ts). */
export type TestDialect = 'pg' | 'mysql' | 'sqlite';
export const TEST_DB = (process.env.TEST_DB ?? 'pg') as TestDialect;

/** A database of the test's own: a PostgreSQL schema, a MariaDB database or a SQLite file. */
async function createDatabase(id: string, dir: string): Promise<{ env: Env; drop(): Promise<void> }> {
  if (TEST_DB === 'pg') {
    const schema = `t_${id}`;
    const admin = () => knex({ client: 'pg', connection: ADMIN_DATABASE_URL, pool: { min: 0, max: 1 } });
    const a = admin();
    await a.raw(`create schema "${schema}"`);
    await a.destroy();
    return {
      env: { DATABASE_URL: ADMIN_DATABASE_URL, DATABASE_SCHEMA: schema },
      async drop() {
        const d = admin();
        await d.raw(`drop schema if exists "${schema}" cascade`);
        await d.destroy();
      },
    };
  }
  if (TEST_DB === 'mysql') {
    const name = `t_${id}`;
    const admin = () => createDb({ url: MYSQL_ADMIN_URL, client: 'mysql2', schema: undefined, poolMax: 1 });
    const a = admin();
    await a.raw(`create database \`${name}\` character set utf8mb4 collate utf8mb4_unicode_ci`);
    await a.destroy();
    return {
      env: { DATABASE_URL: MYSQL_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`) },
      async drop() {
        const d = admin();
        await d.raw(`drop database if exists \`${name}\``);
        await d.destroy();
      },
    };
  }
  return { env: { DATABASE_URL: `sqlite://${join(dir, 'app.sqlite3')}` }, drop: async () => {} };
}

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

export interface LogCapture {
  lines: string[];
  logger: Logger;
  records(): Record<string, unknown>[];
}

export function captureLogs(secrets: readonly string[] = [], level = 'debug'): LogCapture {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(l);
      cb();
    },
  });
  const logger = createLogger({ level, secrets, destination: destination as never, pretty: false });
  return { lines, logger, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

export interface Harness {
  id: string;
  dialect: TestDialect;
  schema: string;
  /** Where this world's keys live in Redis: QUEUE_PREFIX and its ledger's id (what `h.config().redis.prefix` says). */
  prefix: string;
  /** QUEUE_PREFIX as set (shared when the test said so). */
  queuePrefix: string;
  ledgerId: string;
  mediaRoot: string;
  env: Env;
  emulator: Emulator;
  db: Knex;
  ledger: Ledger;
  logs: LogCapture;
  config(): Config;
  /** A table's rows in id order, ids as numbers whatever the driver returns for bigint. */
  rows(table: string): Promise<Record<string, unknown>[]>;
  file(rel: string, bytes: Buffer | string): Promise<string>;
  link(rel: string, target: string): Promise<void>;
  /** Runs the CLI in-process with this world's settings (plus `env`), capturing its output. */
  run(argv: string[], opts?: { env?: Env; signal?: AbortSignal }): Promise<Captured>;
  /** The services a worker runs on, opened from this world's settings as a command opens them; close them when done. */
  pipeline(opts?: { apiSecret?: string }): { deps: RunBatchDeps; close(): Promise<void> };
  redis(): Redis;
  close(): Promise<void>;
}

export interface HarnessOptions {
  emulator?: EmulatorOptions;
  shopTables?: boolean;
  env?: Env;
  /** A QUEUE_PREFIX shared with another harness: two databases on one Redis and one prefix. */
  queuePrefix?: string;
}

export async function createHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const id = randomBytes(6).toString('hex');
  const schema = `t_${id}`;
  const prefix = opts.queuePrefix ?? `mmtest-${id}`;
  const scratch = await mkdtemp(join(tmpdir(), `mm-test-${id}-`));
  const database = await createDatabase(id, scratch);
  const mediaRoot = join(scratch, 'media');
  await mkdir(mediaRoot);
  const emulator = await startEmulator(opts.emulator ?? {});
  const env: Env = {
    ...database.env,
    DATABASE_POOL_MAX: '5',
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    MEDIA_ROOT: mediaRoot,
    CLOUDINARY_URL: emulator.cloudinaryUrl,
    RETRY_BACKOFF_MS: '50',
    LOG_LEVEL: 'debug',
    ...opts.env,
  };
  const settings = () => loadConfig(env, ['database', 'redis', 'mediaRoot', 'cloudinary']);
  const db = createDb(settings().database);
  if (opts.shopTables !== false) await createShopTables(db);
  const ledger = new Ledger(db);
  const identity = await ledger.open();
  // What the commands use once their ledger is open: its own space under QUEUE_PREFIX.
  const config = (): Config => {
    const c = settings();
    return { ...c, redis: inLedgerSpace(c.redis, { id: identity.id, database: databaseLabel(c.database) }) };
  };
  const space = config().redis.prefix;
  const logs = captureLogs(config().secrets);
  const redisClients: Redis[] = [];

  return {
    id,
    dialect: TEST_DB,
    schema,
    prefix: space,
    queuePrefix: prefix,
    ledgerId: identity.id,
    mediaRoot,
    env,
    emulator,
    db,
    ledger,
    logs,
    config,
    async rows(table) {
      return (await db(table).orderBy('id')).map((r: Record<string, unknown>) => ({ ...r, id: Number(r.id) }));
    },
    async file(rel, bytes) {
      const p = join(mediaRoot, rel);
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, bytes);
      return p;
    },
    async link(rel, target) {
      const p = join(mediaRoot, rel);
      await mkdir(dirname(p), { recursive: true });
      await symlink(target, p);
    },
    async run(argv, runOpts = {}) {
      let stdout = '';
      let stderr = '';
      const io: CommandIO = {
        env: { ...env, ...runOpts.env },
        stdout: new Writable({ write: (c, _e, cb) => ((stdout += c.toString()), cb()) }),
        stderr: new Writable({ write: (c, _e, cb) => ((stderr += c.toString()), cb()) }),
        isTTY: false,
        logger: logs.logger,
        ...(runOpts.signal ? { signal: runOpts.signal } : {}),
      };
      const code = await main(['node', 'media-migrate', ...argv], io);
      return { code, stdout, stderr };
    },
    pipeline(pipelineOpts = {}) {
      const c = config();
      const uploader = createCloudinaryUploader({ ...c.cloudinary, ...(pipelineOpts.apiSecret ? { apiSecret: pipelineOpts.apiSecret } : {}) }, c.upload);
      const connection = redisConnection(c.redis);
      const queue = createQueue(c.redis, connection, c.upload);
      const deps: RunBatchDeps = { db, ledger, queue, connection, uploader, logger: logs.logger, redis: c.redis, upload: c.upload, mediaRoot: c.mediaRoot, cloudName: c.cloudinary.cloudName };
      return {
        deps,
        async close() {
          await queue.close();
          connection.disconnect();
          uploader.close();
        },
      };
    },
    redis() {
      const r = new Redis(TEST_REDIS_URL);
      redisClients.push(r);
      return r;
    },
    async close() {
      await db.destroy();
      await emulator.close();
      const r = new Redis(TEST_REDIS_URL);
      let cursor = '0';
      // A prefix shared with another world keeps that world's keys; the note of this ledger goes.
      const mine = opts.queuePrefix ? space : prefix;
      if (opts.queuePrefix) await r.hdel(`${prefix}:media-migrate:ledgers`, identity.id);
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${mine}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await r.del(...keys);
      } while (cursor !== '0');
      r.disconnect();
      for (const c of redisClients) c.disconnect();
      await database.drop();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}
