import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startEmulator, type Emulator } from '../emulator/server.ts';
import { ExitError, errorMessage } from '../errors.ts';
import { runCutoverDemo } from './demo/cutover.ts';
import { DEMO_PREFIX, PLANTED, addRow, clearQueue, fillTables, plantMedia, prepareDatabase, type DemoDatabase } from './demo/shop.ts';
import { plantLibrary } from './demo/library.ts';
import { auditCommand } from './audit.ts';
import { retryFailedCommand } from './retry-failed.ts';
import { Ledger } from '../ledger/ledger.ts';
import { Outcome } from '../outcomes.ts';
import { pngBytes } from '../django/sample-images.ts';
import { println, type CommandIO } from './io.ts';
import { migrateCommand } from './migrate.ts';
import { stageCommand } from './stage.ts';
import { verifyCommand } from './verify.ts';

export interface DemoOptions {
  images: number;
  latency: number;
  concurrency: number;
  cutover?: boolean | undefined;
}

/**
 * `media-migrate demo`: a real migration on embedded defaults. It builds its own tables (the seed
 * app's three models), a temporary media folder of real images with some trouble planted, starts the
 * bundled Cloudinary emulator, and runs `migrate` (or, with --cutover, the whole staged cutover)
 * against all of it. Without DATABASE_URL the tables live in a SQLite file of its own; with one (or
 * DEMO_DATABASE_URL) they go into a schema (PostgreSQL) or database (MySQL) named media_migrate_demo,
 * never beside an app's own tables.
 */
export async function demoCommand(opts: DemoOptions, io: CommandIO): Promise<number> {
  const redisUrl = io.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const scratch = await mkdtemp(join(tmpdir(), 'media-migrate-demo-'));
  const mediaRoot = join(scratch, 'media');
  let emulator: Emulator | undefined;
  try {
    const database = await prepareDatabase(io.env.DEMO_DATABASE_URL ?? io.env.DATABASE_URL, scratch);
    emulator = await startEmulator({ faults: { latencyMs: opts.latency, latencyJitterMs: Math.round(opts.latency / 4) } });
    await clearQueue(redisUrl);
    const rows = await plantMedia(mediaRoot, opts.images, { cutover: Boolean(opts.cutover) });
    await fillTables(database, rows);
    println(io.stderr, `demo: ${opts.images} image rows in ${database.where}, files in ${mediaRoot}, Cloudinary emulator at ${emulator.url}`);

    const env = {
      ...io.env,
      ...database.env,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: DEMO_PREFIX,
      MEDIA_ROOT: mediaRoot,
      CLOUDINARY_URL: emulator.cloudinaryUrl,
      DJANGO_APP_LABEL: 'shop',
    };
    if (opts.cutover) {
      // The narration is the point here: per-record log lines only when asked for.
      const quiet = { ...env, LOG_LEVEL: io.env.LOG_LEVEL ?? 'warn' };
      return await runCutoverDemo({ io: { ...io, env: quiet }, emulator, database, mediaRoot, concurrency: opts.concurrency, addRow: (r) => addRow(database, mediaRoot, r), commands: { stage: stageCommand, migrate: migrateCommand, verify: verifyCommand } });
    }
    const sources = join(scratch, 'sources.json');
    await writeFile(sources, JSON.stringify({ sources: await plantLibrary(database, mediaRoot) }, null, 2));
    const code = await migrateCommand({ concurrency: opts.concurrency, sources }, { ...io, env });
    if (code === 2) return code;
    println(io.stderr, '');
    println(io.stderr, `The ${PLANTED.failed} failures and ${PLANTED.missing} missing files are planted: an unsafe path (../), a zero-byte file and`);
    println(io.stderr, 'a text file named .jpg fail without any upload; missing files are reported, not retried.');
    const audited = await afterCare(database, mediaRoot, sources, { ...io, env });
    if (audited === 2) return audited;
    // The URL's password stays out of the hint.
    const settings = Object.entries(database.env).map(([k, v]) => `${k}=${v.replace(/^([a-z0-9+.-]+:\/\/[^:/@]*):[^@/]*@/i, '$1@')}`);
    println(io.stderr, `Look at the ledger: ${settings.join(' ')} npx media-migrate status`);
    println(io.stderr, 'The staged, zero-downtime cutover end to end: npx media-migrate demo --cutover');
    return audited;
  } catch (err) {
    if (err instanceof ExitError) throw err;
    throw new ExitError(2, `demo: ${errorMessage(err)} (it needs Redis at REDIS_URL, and the database at DATABASE_URL when that is set)`);
  } finally {
    await emulator?.close();
    // The SQLite file stays (the closing hint points at it); the media folder goes.
    await rm(mediaRoot, { recursive: true, force: true });
  }
}


/**
 * What an operator does after the first run, until the old disk can go: the missing files turn up in a
 * backup and are retried; the rows whose files were junk are cleared in the shop's admin (here, straight
 * in its table); then `audit` says whether anything still needs MEDIA_ROOT.
 */
async function afterCare(database: DemoDatabase, mediaRoot: string, sources: string, io: CommandIO): Promise<number> {
  const say = (line: string) => println(io.stderr, line);
  const db = database.open();
  try {
    const ledger = new Ledger(db);
    const batch = (await ledger.batches.latest())!;
    say(`\n── the ${PLANTED.missing} missing files turn up in a backup: put them back, retry them`);
    for (const r of await ledger.records.list(batch.id, { outcome: Outcome.missing })) {
      if (!r.oldValue) continue;
      await mkdir(dirname(join(mediaRoot, r.oldValue)), { recursive: true });
      await writeFile(join(mediaRoot, r.oldValue), pngBytes(16, 12, 4000 + Number(r.pk)));
    }
    if ((await retryFailedCommand({ batch: batch.id, outcome: ['missing'] }, io)) === 2) return 2;
    if ((await migrateCommand({ concurrency: 8, sources, batch: batch.id }, io)) === 2) return 2;
    say(`── the ${PLANTED.failed} failed rows hold no picture worth keeping: the shop clears them in its admin`);
    for (const r of await ledger.records.list(batch.id, { outcome: Outcome.failed })) {
      const source = batch.sources.find((s) => s.table === r.table && s.column === r.column);
      if (source) await db(source.table).where(source.pk, r.pk).update({ [source.column]: '' });
    }
  } finally {
    await db.destroy();
  }
  say('── audit: can the old disk go?');
  return auditCommand({ sources }, io);
}
