import { setTimeout as sleep } from 'node:timers/promises';
import { runEnqueue, startWorkers, stopWorkers } from './pipeline.ts';
import { fmt, table, type BenchContext, type ScenarioResult } from './report.ts';
import type { World } from './world.ts';

/**
 * F. Redis loses everything mid-batch: two `media-migrate worker` processes work a batch, and Redis
 * is flushed (FLUSHALL) once half of it is done. Nobody runs a command again: the workers' refillers
 * must notice the lost window and hand the pending records over again from the ledger. Then: every
 * record ended exactly once, and no file was sent to Cloudinary twice.
 */
const WORKERS = 2;
const CONCURRENCY = 32;

async function ledgerState(world: World): Promise<{ pending: number; done: number; records: number; distinct: number; attemptsAboveOne: number }> {
  const r = (await world.db.raw(
    `select count(*) filter (where outcome = 'pending') as pending, count(*) filter (where outcome <> 'pending') as done,
            count(*) as records, count(distinct (source_table, source_column, pk)) as distinct, count(*) filter (where attempts > 1) as again
       from media_migrate_records`,
  )) as { rows: { pending: string; done: string; records: string; distinct: string; again: string }[] };
  const row = r.rows[0]!;
  return { pending: Number(row.pending), done: Number(row.done), records: Number(row.records), distinct: Number(row.distinct), attemptsAboveOne: Number(row.again) };
}

export async function scenarioFlush(ctx: BenchContext, world: World): Promise<ScenarioResult> {
  const n = ctx.rows ?? (ctx.quick ? 2_000 : 100_000);
  ctx.log(`F: writing ${n.toLocaleString('en-US')} images and rows`);
  await world.writeImages(0, n);
  await world.fillRows(n);
  await world.resetState();
  const emulator = await world.emulator(0);
  await runEnqueue(world, emulator);
  ctx.log(`F: ${WORKERS} workers, ${CONCURRENCY} in flight each; FLUSHALL at half`);
  const workers = await startWorkers(world, emulator, WORKERS, CONCURRENCY);
  const t0 = performance.now();
  let flushedAt = 0;
  let doneAtFlush = 0;
  try {
    for (;;) {
      const s = await ledgerState(world);
      if (s.done >= n / 2) {
        await world.redis.client.flushall();
        flushedAt = performance.now();
        doneAtFlush = s.done;
        break;
      }
      await sleep(50);
    }
    ctx.log(`F: flushed with ${doneAtFlush.toLocaleString('en-US')} done; waiting for the workers to finish by themselves`);
    const until = Date.now() + (ctx.quick ? 180_000 : 1_200_000);
    let firstAfter = 0;
    for (;;) {
      const s = await ledgerState(world);
      if (!firstAfter && s.done > doneAtFlush + WORKERS * CONCURRENCY) firstAfter = performance.now();
      if (s.pending === 0) break;
      if (Date.now() > until) throw new Error(`bench: ${s.pending} records still pending long after the flush`);
      for (const w of workers) if (w.child.exitCode !== null) throw new Error(`bench: a worker exited: ${w.output().slice(-2000)}`);
      await sleep(200);
    }
    const seconds = (performance.now() - t0) / 1000;
    const s = await ledgerState(world);
    const stats = await emulator.stats();
    const outcomes = (await world.db.raw(`select outcome, count(*) as n from media_migrate_records group by outcome order by outcome`)) as {
      rows: { outcome: string; n: string }[];
    };
    const sentTwice = stats.uploadRequests - n;
    return {
      id: 'F',
      title: `Redis flushed in the middle of a ${n.toLocaleString('en-US')}-record batch`,
      figures: [
        {
          label: 'records ended, each exactly once in the ledger',
          value: s.records === s.distinct && s.pending === 0 ? s.done : NaN,
          unit: 'records',
          digits: 0,
          target: { op: '>=', value: n },
        },
        { label: 'uploads beyond one per record', value: sentTwice, unit: 'uploads', digits: 0, target: { op: '<=', value: 0 } },
        { label: 'uploads answered existing: true (sent twice)', value: stats.existing, unit: 'uploads', digits: 0, target: { op: '<=', value: 0 } },
      ],
      details: [
        ...table(
          ['', ''],
          [
            ['records done when Redis was flushed', doneAtFlush.toLocaleString('en-US')],
            ['work resumed (first jobs done after the flush)', firstAfter ? `${fmt((firstAfter - flushedAt) / 1000, 1)} s later` : 'n/a'],
            ['batch finished', `${fmt(seconds, 0)} s after the workers started`],
            ['outcomes', outcomes.rows.map((o) => `${o.outcome} ${Number(o.n).toLocaleString('en-US')}`).join(', ')],
            ['upload requests / assets created', `${stats.uploadRequests.toLocaleString('en-US')} / ${stats.created.toLocaleString('en-US')}`],
            ['records attempted more than once', s.attemptsAboveOne.toLocaleString('en-US')],
          ],
        ),
        '',
        `Two \`media-migrate worker\` processes, uploads answered at once, \`FLUSHALL\` on the (private) Redis once half the records were done. No command was run again: each worker's refiller found the window's cursor gone while the ledger had progress, and handed the pending records over again from the ledger, the first window after a lock's duration (LOCK_DURATION_MS, 30 s) so the jobs that were in flight at the loss end first.`,
      ],
    };
  } finally {
    await stopWorkers(workers);
    await world.resetState();
  }
}
