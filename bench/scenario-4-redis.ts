import { setTimeout as sleep } from 'node:timers/promises';
import { jobOptions } from '../src/queue.ts';
import { failureNotes, redisSnapshot, runMigrate, type RedisSnapshot } from './pipeline.ts';
import { fmt, mb, table, type BenchContext, type ScenarioResult } from './report.ts';
import type { World } from './world.ts';

/**
 * 4. Bounded Redis over a long batch: one batch through `migrate --concurrency 32` (uploads answered
 * at once), with what Redis holds measured after the first 10% of the jobs and at the end. The
 * backlog of waiting jobs shrinks as the batch goes and is reported apart; what must not grow is what
 * stays behind for finished jobs (kept for the dashboard) and the queue's own bookkeeping.
 */
export async function scenarioRedis(ctx: BenchContext, world: World): Promise<ScenarioResult> {
  const n = ctx.quick ? 600 : 100_000;
  const early = n / 10;
  const kept = (jobOptions({ attempts: 1, backoffMs: 1 } as never).removeOnComplete as { count: number }).count;
  ctx.log(`4: writing ${n.toLocaleString('en-US')} images`);
  await world.writeImages(0, n);
  await world.fillRows(n);
  await world.resetState();
  const emulator = await world.emulator(0);
  const empty = await world.redis.usedMemory();
  let first: RedisSnapshot | undefined;
  let firstAt = 0;
  ctx.log(`4: migrate --concurrency 32 over ${n.toLocaleString('en-US')} rows, measuring Redis after ${early.toLocaleString('en-US')}`);
  const run = await runMigrate(world, emulator, 32, {
    expect: n,
    watch: async (child) => {
      while (child.child.exitCode === null) {
        const r = (await world.db.raw(`select count(*) as n from media_migrate_records where outcome <> 'pending'`)) as { rows: { n: string }[] };
        const done = Number(r.rows[0]?.n ?? 0);
        if (done >= early) {
          firstAt = done;
          first = await redisSnapshot(world);
          return;
        }
        await sleep(100);
      }
    },
  });
  const last = await redisSnapshot(world);
  if (!first) throw new Error('bench: the batch finished before the first measurement');
  await world.resetState();
  const ratio = last.retainedBytes / first.retainedBytes;
  const row = (label: string, s: RedisSnapshot): (string | number)[] => [
    label,
    fmt(mb(s.usedMemory - empty), 1),
    fmt(mb(s.queuedBytes), 1),
    fmt(mb(s.retainedBytes), 2),
    s.finishedJobsKept,
  ];
  return {
    id: '4',
    title: `Bounded Redis over a long batch (${n.toLocaleString('en-US')} jobs)`,
    figures: [
      { label: `retained after ${fmt(early, 0)} jobs`, value: mb(first.retainedBytes), unit: 'MB', digits: 2 },
      { label: `retained after ${fmt(n, 0)} jobs`, value: mb(last.retainedBytes), unit: 'MB', digits: 2 },
      {
        label: 'growth of what is retained',
        value: ratio,
        unit: '×',
        digits: 2,
        target: { op: '<=', value: 2 },
        notApplicable: n <= kept ? `${n} jobs, fewer than the ${kept} kept` : undefined,
      },
    ],
    details: [
      ...table(
        ['when', 'used_memory over empty (MB)', 'waiting/active jobs (MB)', 'finished jobs + bookkeeping (MB)', 'finished jobs kept'],
        [row(`after ${firstAt.toLocaleString('en-US')} processed`, first), row(`after ${n.toLocaleString('en-US')} processed`, last)],
      ),
      '',
      `Redis is private to the run; sizes are \`MEMORY USAGE\` of each key under the run's prefix. Completed jobs are trimmed to the newest ${kept.toLocaleString('en-US')} (\`removeOnComplete\`); the ledger keeps every outcome. The first measurement is taken while the batch runs, so a few hundred jobs finish during it.`,
      ...failureNotes([run]),
    ],
  };
}
