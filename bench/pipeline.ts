import { Queue } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import { QUEUE_NAME } from '../src/pipeline/queue.ts';
import { Ledger } from '../src/ledger/ledger.ts';
import { CpuMeter, prefixMemory, spawnCli, succeeded, type CpuReport, type EmulatorProcess, type Spawned, type World } from './world.ts';

/** How the real commands are run and timed. Times come from the ledger, in the database's clock. */

export interface PipelineRun {
  images: number;
  /** Batch created (enqueue starts) → last record finished, from the ledger. */
  seconds: number;
  perSecond: number;
  /** The whole command, process start to exit (includes loading the code, ~1-2 s). */
  commandSeconds: number;
  /** Records that ended failed, with the first reason logged (the run still counts). */
  failed: number;
  failure: string | undefined;
  cpu: CpuReport;
}

export interface LedgerTiming {
  migrated: number;
  notMigrated: number;
  seconds: number;
}

/** Counts and the span from the batch's creation (or `from`) to its last finished record. */
export async function ledgerTiming(world: World, from?: Date): Promise<LedgerTiming> {
  const r = (await world.db.raw(
    `select count(*) filter (where r.outcome = 'migrated') as migrated,
            count(*) filter (where r.outcome <> 'migrated') as other,
            extract(epoch from max(r.finished_at) - coalesce(?::timestamptz, min(b.created_at))) as seconds
       from media_migrate_records r join media_migrate_batches b on b.id = r.batch_id`,
    [from ?? null],
  )) as { rows: { migrated: string; other: string; seconds: string | null }[] };
  const row = r.rows[0];
  return { migrated: Number(row?.migrated ?? 0), notMigrated: Number(row?.other ?? 0), seconds: Number(row?.seconds ?? NaN) };
}

export async function databaseNow(world: World): Promise<Date> {
  const r = (await world.db.raw('select clock_timestamp() as now')) as { rows: { now: Date }[] };
  return r.rows[0]!.now;
}

/** `media-migrate migrate --concurrency N --json` as a real process, over the world's whole source table. */
export async function runMigrate(
  world: World,
  emulator: EmulatorProcess,
  concurrency: number,
  opts: { expect: number; watch?: (child: Spawned) => Promise<void> },
): Promise<PipelineRun> {
  const cpu = new CpuMeter();
  await cpu.track('emulator', emulator.pid);
  await cpu.track('redis', world.redis.pid);
  const t0 = performance.now();
  // BENCH_CPU_PROF_DIR=dir: a --cpu-prof of each migrate run, to see where its CPU goes.
  const profDir = process.env.BENCH_CPU_PROF_DIR;
  const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const child = spawnCli(['migrate', '--concurrency', String(concurrency), '--json'], world.env(emulator.cloudinaryUrl), nodeArgs);
  await cpu.track('pipeline (migrate process)', child.child.pid!);
  await cpu.begin();
  const watching = opts.watch?.(child);
  // Exit 1 means some record failed: the run still measures something, and says what failed.
  const { code } = await child.exited;
  const out = child.output();
  await watching;
  const commandSeconds = (performance.now() - t0) / 1000;
  const report = await cpu.end();
  const summary = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { migrated?: number; failed?: number };
  const t = await ledgerTiming(world);
  const failed = summary.failed ?? 0;
  if ((code !== 0 && code !== 1) || summary.migrated === undefined || summary.migrated + failed !== opts.expect || t.migrated !== summary.migrated) {
    throw new Error(`bench: migrate exited ${code}, migrated ${summary.migrated} (ledger: ${t.migrated}) of ${opts.expect}:\n${out.slice(-2000)}`);
  }
  const failure = failed > 0 ? /"detail":"([^"]*)"/.exec(out)?.[1] : undefined;
  return { images: t.migrated + failed, seconds: t.seconds, perSecond: (t.migrated + failed) / t.seconds, commandSeconds, failed, failure, cpu: report };
}

/**
 * Where the world's ledger keeps its keys: QUEUE_PREFIX and the ledger's id (src/pipeline/ledger-space.ts).
 * Opens the ledger (creating it if no command has yet), as every command does first.
 */
export async function ledgerSpace(world: World): Promise<string> {
  const { id } = await new Ledger(world.db).open();
  return `${world.prefix}:${id}`;
}

/** A BullMQ handle on the world's queue, for pausing and resuming it around worker start-up. */
export async function benchQueue(world: World): Promise<{ queue: Queue; close(): Promise<void> }> {
  const connection = world.redis.client.duplicate();
  const queue = new Queue(QUEUE_NAME, { connection, prefix: await ledgerSpace(world) });
  return {
    queue,
    async close() {
      await queue.close();
      connection.disconnect();
    },
  };
}

/** `media-migrate enqueue` as a real process; returns how many jobs it enqueued. */
export async function runEnqueue(world: World, emulator: EmulatorProcess): Promise<number> {
  const out = await succeeded(spawnCli(['enqueue', '--json'], world.env(emulator.cloudinaryUrl)), 'enqueue');
  return (JSON.parse(out.trim().split('\n').pop() ?? '{}') as { enqueued: number }).enqueued;
}

/**
 * Starts `count` `media-migrate worker` processes and waits until each has logged that it started,
 * so a paused queue can be resumed with every worker ready.
 */
export async function startWorkers(world: World, emulator: EmulatorProcess, count: number, concurrency: number): Promise<Spawned[]> {
  const workers = Array.from({ length: count }, () =>
    spawnCli(['worker', '--concurrency', String(concurrency)], world.env(emulator.cloudinaryUrl, { LOG_LEVEL: 'info' })),
  );
  const until = Date.now() + 30_000;
  while (!workers.every((w) => w.output().includes('worker started'))) {
    const dead = workers.find((w) => w.child.exitCode !== null);
    if (dead) throw new Error(`bench: a worker exited at start:\n${dead.output().slice(-2000)}`);
    if (Date.now() > until) throw new Error('bench: workers did not start within 30 s');
    await sleep(50);
  }
  return workers;
}

export async function stopWorkers(workers: Spawned[]): Promise<void> {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGTERM');
  await Promise.all(workers.map((w) => Promise.race([w.exited, sleep(35_000).then(() => w.child.kill('SIGKILL'))])));
}

/** Waits until the ledger has no pending record (or `timeoutMs` passes). */
export async function waitUntilDone(world: World, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = (await world.db.raw(`select count(*) as n from media_migrate_records where outcome = 'pending'`)) as { rows: { n: string }[] };
    if (Number(r.rows[0]?.n ?? 1) === 0) return;
    if (Date.now() > until) throw new Error('bench: the batch did not finish in time');
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// What the queue keeps in Redis, split into what is still to do and what is retained afterwards.

const QUEUED_KEYS = new Set(['wait', 'active', 'paused', 'prioritized', 'delayed', 'waiting-children']);

export interface RedisSnapshot {
  usedMemory: number;
  /** Waiting/active jobs and their lists: proportional to the backlog, gone once it is processed. */
  queuedBytes: number;
  /** Finished jobs kept for the dashboard, plus the queue's own bookkeeping (events stream, meta...). */
  retainedBytes: number;
  finishedJobsKept: number;
}

export async function redisSnapshot(world: World): Promise<RedisSnapshot> {
  const redis = world.redis.client;
  const q = `${await ledgerSpace(world)}:${QUEUE_NAME}:`;
  const finished = new Set([...(await redis.zrange(`${q}completed`, 0, -1)), ...(await redis.zrange(`${q}failed`, 0, -1))]);
  const bytes = await prefixMemory(redis, world.prefix, (key) => {
    const rest = key.startsWith(q) ? key.slice(q.length) : key;
    if (QUEUED_KEYS.has(rest)) return 'queued';
    if (/^b\d+-/.test(rest)) return finished.has(rest.split(':')[0]!) ? 'retained' : 'queued';
    return 'retained';
  });
  return {
    usedMemory: await world.redis.usedMemory(),
    queuedBytes: bytes.queued ?? 0,
    retainedBytes: bytes.retained ?? 0,
    finishedJobsKept: finished.size,
  };
}

/** A line for the details when a run had failed records (they still count as processed). */
export function failureNotes(runs: PipelineRun[]): string[] {
  const failed = runs.filter((r) => r.failed > 0);
  if (failed.length === 0) return [];
  return [
    '',
    ...failed.map(
      (r) => `In one run ${r.failed} of ${r.images.toLocaleString('en-US')} records failed (${r.failure ?? 'see the ledger'}); they count as processed.`,
    ),
  ];
}

/** CPU milliseconds per item for each process, as table rows. */
export function cpuRows(report: CpuReport, items: number): (string | number)[][] {
  return Object.entries(report.byProcess)
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([name, ms]) => [name, (ms / items).toFixed(3), `${((100 * ms) / report.wallMs).toFixed(0)}%`]);
}
