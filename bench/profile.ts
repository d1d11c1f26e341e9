import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config/config.ts';
import { createDb } from '../src/db/connect.ts';
import { Ledger } from '../src/ledger/ledger.ts';
import { silentLogger } from '../src/logger.ts';
import { readMediaFile } from '../src/media/media-file.ts';
import { enqueueBatch } from '../src/pipeline/producer.ts';
import { createQueue, redisConnection } from '../src/pipeline/queue.ts';
import { startRecordWorker } from '../src/pipeline/record-worker.ts';
import { defaultSources } from '../src/config/sources.ts';
import { checkSources } from '../src/db/check-sources.ts';
import { createCloudinaryUploader, type Uploader } from '../src/cloudinary/uploader.ts';
import { fmt, table, type BenchContext, type ScenarioResult } from './report.ts';
import { imageName, SOURCE_TABLE, type World } from './world.ts';

/**
 * P. Where the time goes in one job: the real record worker (`startRecordWorker`, what `migrate` and
 * `worker` run) in this process, one job at a time, uploads answered at once, with every SQL
 * statement timed, the upload timed around the uploader, Redis commands
 * counted at the client, and the file read + MD5 timed apart on the same files. The round trips are
 * timed at the driver (pg), so what knex spends building each query falls into the rest.
 */

function phaseOf(sql: string): string {
  const s = sql.trim();
  if (/^(BEGIN|COMMIT|ROLLBACK)/i.test(s)) return 'db: BEGIN, COMMIT';
  if (s.startsWith(`select "image" from "${SOURCE_TABLE}"`)) return 'db: read the row';
  if (s.startsWith(`update "${SOURCE_TABLE}"`)) return 'db: update the row';
  if (/for update$/.test(s)) return 'db: ledger, lock the record';
  if (s.includes('inner join "media_migrate_batches"')) return 'db: ledger, already migrated?';
  if (s.startsWith('update "media_migrate_records" set "public_id"')) return 'db: ledger, note the attempt';
  if (s.startsWith('update "media_migrate_records" set "outcome"')) return 'db: ledger, write the outcome';
  if (s.startsWith('select * from "media_migrate_records"')) return 'db: ledger, find the record';
  return `db: other (${s.slice(0, 40)})`;
}

interface Tally {
  count: number;
  ms: number;
}

export async function scenarioProfile(ctx: BenchContext, world: World): Promise<ScenarioResult> {
  const n = ctx.quick ? 60 : 600;
  await world.writeImages(0, n);
  await world.fillRows(n);
  await world.resetState();
  const emulator = await world.emulator(0);
  const cfg = loadConfig(world.env(emulator.cloudinaryUrl), ['database', 'redis', 'mediaRoot', 'cloudinary']);
  const db = createDb(cfg.database);
  const connection = redisConnection(cfg.redis);
  const queue = createQueue(cfg.redis, connection, cfg.upload);
  const real = createCloudinaryUploader(cfg.cloudinary, cfg.upload);
  const tallies = new Map<string, Tally>();
  const tally = (phase: string, ms: number) => {
    const t = tallies.get(phase) ?? { count: 0, ms: 0 };
    t.count++;
    t.ms += ms;
    tallies.set(phase, t);
  };
  const proto = Redis.prototype as unknown as {
    sendCommand: (this: Redis, command: { name: string; promise?: Promise<unknown> }, ...rest: unknown[]) => unknown;
  };
  const sendCommand = proto.sendCommand;
  // The driver knex loaded (CommonJS; it ships no types).
  const pg = createRequire(import.meta.url)('pg') as { Client: { prototype: { query: (...args: unknown[]) => unknown } } };
  const pgProto = pg.Client.prototype;
  const pgQuery = pgProto.query;
  let wallMs = 0;
  let cpuMs = 0;
  try {
    const ledger = new Ledger(db);
    await ledger.migrate();
    const spec = { kind: 'migrate' as const, sources: await checkSources(db, defaultSources('shop')), store: 'public_id' as const, dryRun: false, prefix: 'media/', tag: 'media' };
    await enqueueBatch({ db, ledger, queue, redis: connection, logger: silentLogger }, spec);

    // Every round trip to PostgreSQL, BEGIN and COMMIT included, timed at the driver: knex always
    // calls `client.query(config, callback)`.
    pgProto.query = function (this: unknown, config: unknown, ...rest: unknown[]) {
      const callback = rest[rest.length - 1];
      if (typeof callback !== 'function') return pgQuery.call(this, config, ...rest);
      const sql = typeof config === 'string' ? config : String((config as { text?: string }).text ?? '');
      const t = performance.now();
      const timed = (...args: unknown[]) => {
        tally(phaseOf(sql), performance.now() - t);
        return (callback as (...a: unknown[]) => unknown)(...args);
      };
      return pgQuery.call(this, config, ...rest.slice(0, -1), timed);
    };
    const uploader: Uploader = {
      ...real,
      async upload(req) {
        const t = performance.now();
        try {
          return await real.upload(req);
        } finally {
          tally('upload (SDK → emulator → answer)', performance.now() - t);
        }
      },
    };
    proto.sendCommand = function (this: Redis, command, ...rest) {
      tally('redis', 0);
      const t = performance.now();
      const name = command.name === 'evalsha' ? 'BullMQ scripts: take/finish a job' : command.name;
      void command.promise?.then(
        () => tally(`redis: ${name}`, performance.now() - t),
        () => tally(`redis: ${name}`, performance.now() - t),
      );
      return sendCommand.call(this, command, ...rest);
    };

    ctx.log(`P: the record worker, one job at a time, over ${n} rows`);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const rw = startRecordWorker({
      db,
      ledger,
      queue,
      connection,
      uploader,
      logger: silentLogger,
      redis: cfg.redis,
      upload: cfg.upload,
      mediaRoot: cfg.mediaRoot,
      cloudName: cfg.cloudinary.cloudName,
      concurrency: 1,
    });
    await new Promise<void>((resolve) => {
      let done = 0;
      rw.worker.on('completed', () => {
        if (++done === n) {
          wallMs = performance.now() - t0;
          const c = process.cpuUsage(cpu0);
          cpuMs = (c.user + c.system) / 1000;
          resolve();
        }
      });
    });
    proto.sendCommand = sendCommand;
    pgProto.query = pgQuery;
    await rw.close();
  } finally {
    proto.sendCommand = sendCommand;
    pgProto.query = pgQuery;
    real.close();
    await queue.close();
    connection.disconnect();
    await db.destroy();
  }

  // The file read + MD5 happens inside the handler; timed here on the same files, one at a time.
  const root = realpathSync(world.mediaRoot);
  const limits = { maxFileBytes: 10 * 1024 * 1024, keepInMemoryUpToBytes: 20 * 1024 * 1024 };
  const tf = performance.now();
  for (let i = 0; i < n; i++) await readMediaFile(root, imageName(i), limits);
  const fileMs = (performance.now() - tf) / n;
  await world.resetState();

  const perJob = wallMs / n;
  const redis = tallies.get('redis');
  tallies.delete('redis');
  const rows: (string | number)[][] = [['file: realpath, open, read, MD5 (timed apart)', fmt(fileMs, 3), `${fmt((100 * fileMs) / perJob, 0)}%`, '1']];
  let accounted = fileMs;
  // Calls made less than once in twenty jobs (start-up, the batch look-up) stay in the rest.
  for (const [phase, t] of [...tallies].filter(([, t]) => t.count / n >= 0.05).sort((a, b) => b[1].ms - a[1].ms)) {
    accounted += t.ms / n;
    rows.push([phase, fmt(t.ms / n, 3), `${fmt((100 * t.ms) / n / perJob, 0)}%`, fmt(t.count / n, 1)]);
  }
  const rest = perJob - accounted;
  rows.push(['rest: building queries (knex), taking pool connections, the handler and BullMQ in JS', fmt(rest, 3), `${fmt((100 * rest) / perJob, 0)}%`, '']);
  rows.push(['**one job, end to end**', `**${fmt(perJob, 3)}**`, '100%', '']);
  const dbCount = [...tallies].filter(([k]) => k.startsWith('db:')).reduce((a, [, t]) => a + t.count, 0) / n;
  return {
    id: 'P',
    title: 'Profile: where the time goes in one job (one at a time, no upload latency)',
    figures: [
      { label: 'one job, end to end', value: perJob, unit: 'ms', digits: 2 },
      { label: "the worker process's CPU per job", value: cpuMs / n, unit: 'ms', digits: 2 },
      { label: 'database round trips per job', value: dbCount, unit: '', digits: 1 },
      { label: 'Redis commands per job', value: (redis?.count ?? 0) / n, unit: '', digits: 1 },
    ],
    details: [
      ...table(['phase', 'ms per job', 'share', 'calls per job'], rows),
      '',
      `Round trips are timed from the request to its answer (the other side's work and the wait for a core included); the file read is timed apart on the same ${n} files. This process spent ${fmt(cpuMs / n, 2)} ms of CPU per job (${fmt((100 * cpuMs) / wallMs, 0)}% of the wall time): the rest of the time it waited.`,
    ],
  };
}
