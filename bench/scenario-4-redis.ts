import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryWatch } from './memory.ts';
import { cpuRows, redisSnapshot, runEnqueue, startWorkers, stopWorkers, type RedisSnapshot } from './pipeline.ts';
import { fmt, mb, table, type BenchContext, type ScenarioResult } from './report.ts';
import { CpuMeter, freePort, spawnCli, type Spawned, type World } from './world.ts';

/**
 * 4. A library of a million images, start to finish, on a small Redis and small processes: the batch
 * is enqueued (`media-migrate enqueue`), then worked by `migrate --batch ID` and one `worker` side by
 * side (two refillers of the window), uploads answered at once, while `media-migrate dashboard` is
 * asked what the summary page asks every 2 s (and /metrics every 15 s). Redis's `used_memory` and
 * every process's memory are sampled every 100 ms, from the enqueue to the last record; what stays in
 * Redis is measured once the processes are gone.
 */

const CONCURRENCY = 32;
const PASSWORD = 'bench-dashboard';

async function startDashboard(world: World, cloudinaryUrl: string): Promise<{ p: Spawned; url: string }> {
  const port = await freePort();
  const p = spawnCli(['dashboard', '--port', String(port)], world.env(cloudinaryUrl, { DASHBOARD_PASSWORD: PASSWORD }));
  const until = Date.now() + 30_000;
  while (!p.output().includes('Dashboard: ')) {
    if (p.child.exitCode !== null) throw new Error(`bench: the dashboard exited: ${p.output().slice(-2000)}`);
    if (Date.now() > until) throw new Error('bench: the dashboard did not start within 30 s');
    await sleep(50);
  }
  return { p, url: `http://127.0.0.1:${port}` };
}

/** What the summary page asks while open (every 2 s), and what a Prometheus scrape asks (every 15 s). */
function pollDashboard(url: string, batch: number, stop: () => boolean): Promise<{ requests: number; slowestMs: number }> {
  const auth = { authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` };
  const get = async (path: string) => {
    const t0 = performance.now();
    const res = await fetch(`${url}${path}`, { headers: auth });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`bench: dashboard ${path}: ${res.status}`);
    return performance.now() - t0;
  };
  return (async () => {
    let requests = 0;
    let slowestMs = 0;
    for (let tick = 0; !stop(); tick++) {
      slowestMs = Math.max(slowestMs, await get(`/api/overview?batch=${batch}`));
      requests++;
      if (tick % 8 === 0) {
        slowestMs = Math.max(slowestMs, await get('/metrics'), await get('/queues/api/queues'));
        requests += 2;
      }
      await sleep(2_000);
    }
    return { requests, slowestMs };
  })();
}

async function finished(world: World, batch: number): Promise<number> {
  const r = (await world.db.raw(`select count(*) as n from media_migrate_records where batch_id = ? and outcome = 'pending'`, [batch])) as {
    rows: { n: string }[];
  };
  return Number(r.rows[0]?.n ?? NaN);
}

export async function scenarioRedis(ctx: BenchContext, world: World): Promise<ScenarioResult> {
  const n = ctx.rows ?? (ctx.quick ? 3_000 : 1_000_000);
  const mark = Math.round(n / 10);
  ctx.log(`4: writing ${n.toLocaleString('en-US')} images and rows`);
  await world.writeImages(0, n);
  await world.fillRows(n);
  await world.resetState();
  const emulator = await world.emulator(0);
  const watch = new MemoryWatch(world);
  await watch.start();
  const { p: dashboard, url } = await startDashboard(world, emulator.cloudinaryUrl);
  watch.watch('dashboard', dashboard.child.pid!);
  const t0 = performance.now();
  ctx.log(`4: enqueue`);
  const enqueued = await runEnqueue(world, emulator);
  const batch = 1;
  let stopPolling = false;
  const polling = pollDashboard(url, batch, () => stopPolling);
  const cpu = new CpuMeter();
  await cpu.track('emulator', emulator.pid);
  await cpu.track('redis', world.redis.pid);
  ctx.log(`4: migrate --batch ${batch} and a worker, ${CONCURRENCY} in flight each, over ${n.toLocaleString('en-US')} records`);
  const [worker] = await startWorkers(world, emulator, 1, CONCURRENCY);
  const migrate = spawnCli(['migrate', '--batch', String(batch), '--concurrency', String(CONCURRENCY), '--json'], world.env(emulator.cloudinaryUrl));
  watch.watch('worker', worker!.child.pid!);
  watch.watch('migrate', migrate.child.pid!);
  await cpu.track('migrate process', migrate.child.pid!);
  await cpu.track('worker process', worker!.child.pid!);
  await cpu.begin();
  const at: Record<string, number> = {};
  let early: RedisSnapshot | undefined;
  let lastLog = Date.now();
  let countedAt = 0;
  for (;;) {
    if (migrate.child.exitCode !== null) break;
    // Counting reads every pending record: the bench's own load on the database stays small.
    if (Date.now() - countedAt < (ctx.quick ? 200 : 10_000)) {
      await sleep(100);
      continue;
    }
    countedAt = Date.now();
    const pending = await finished(world, batch);
    const done = n - pending;
    if (!early && done >= Math.min(10_000, mark)) early = await redisSnapshot(world);
    if (at.migrate === undefined && done >= mark) {
      for (const l of ['migrate', 'worker', 'dashboard']) at[l] = watch.rss(l);
    }
    if (Date.now() - lastLog > 60_000) {
      ctx.log(`4: ${done.toLocaleString('en-US')} of ${n.toLocaleString('en-US')} done; Redis ${fmt(mb(watch.redisPeakAbove()), 1)} MB above baseline at most`);
      lastLog = Date.now();
    }
  }
  const { code } = await migrate.exited;
  const seconds = (performance.now() - t0) / 1000;
  const report = await cpu.end();
  const atEnd: Record<string, number> = {};
  for (const l of ['migrate', 'worker', 'dashboard']) atEnd[l] = watch.rss(l);
  const summary = JSON.parse(migrate.output().trim().split('\n').pop() ?? '{}') as { migrated?: number; failed?: number; pending?: number };
  if ((code !== 0 && code !== 1) || summary.pending !== 0 || (summary.migrated ?? 0) + (summary.failed ?? 0) !== n) {
    throw new Error(`bench: migrate exited ${code} with ${JSON.stringify(summary)}:\n${migrate.output().slice(-2000)}`);
  }
  await stopWorkers([worker!]);
  stopPolling = true;
  const polled = await polling;
  // The dashboard's last word, then it goes too: what is left in Redis is what a finished batch leaves.
  const dashboardPeak = watch.peak('dashboard');
  dashboard.child.kill('SIGTERM');
  await dashboard.exited;
  await watch.stop();
  const last = await redisSnapshot(world);
  const left = last.usedMemory - watch.baseline;
  const rate = n / seconds;
  await world.resetState();
  const peaks = { migrate: watch.peak('migrate'), worker: watch.peak('worker'), dashboard: dashboardPeak };
  const label = (x: number) => x.toLocaleString('en-US');
  return {
    id: '4',
    title: `A library of ${label(n)} images, enqueued and processed: Redis and memory`,
    figures: [
      { label: 'Redis above its baseline, highest at any moment', value: mb(watch.redisPeakAbove()), unit: 'MB', digits: 1, target: { op: '<=', value: 25 } },
      { label: 'Redis above its baseline once the batch is done', value: mb(left), unit: 'MB', digits: 2, target: { op: '<=', value: 2 } },
      { label: "migrate's peak RSS", value: mb(peaks.migrate), unit: 'MB', digits: 0, target: { op: '<=', value: 120 } },
      { label: "worker's peak RSS", value: mb(peaks.worker), unit: 'MB', digits: 0, target: { op: '<=', value: 120 } },
      { label: "dashboard's peak RSS", value: mb(peaks.dashboard), unit: 'MB', digits: 0, target: { op: '<=', value: 120 } },
      // Issue 19: a million records at 700/s or more on this machine (uploads answered at once).
      { label: 'records per second, enqueue to the last record', value: rate, unit: 'records/s', digits: 0, target: { op: '>=', value: 700 } },
    ],
    details: [
      ...table(
        ['process', `RSS at ${label(mark)} done (MB)`, `RSS at ${label(n)} done (MB)`, 'peak RSS (MB)'],
        (['migrate', 'worker', 'dashboard'] as const).map((l) => [l, fmt(mb(at[l] ?? NaN), 0), fmt(mb(atEnd[l] ?? NaN), 0), fmt(mb(peaks[l]), 0)]),
      ),
      '',
      ...table(
        ['Redis', 'MB'],
        [
          ['highest `used_memory` above the baseline, any moment (enqueue included)', fmt(mb(watch.redisPeakAbove()), 1)],
          [`finished jobs and bookkeeping after ${label(early ? Math.min(10_000, mark) : 0)} records`, fmt(mb(early?.retainedBytes ?? NaN), 2)],
          [`finished jobs and bookkeeping after ${label(n)} records`, fmt(mb(last.retainedBytes), 2)],
          ['`used_memory` above the baseline after the batch, processes gone', fmt(mb(left), 2)],
        ],
      ),
      '',
      `${label(enqueued)} jobs went to Redis at enqueue (the first window); \`migrate --batch 1\` and one \`worker\` refilled it from the ledger as jobs finished. ${label(n)} records in ${fmt(seconds / 60, 1)} min (${fmt(rate, 0)}/s, enqueue included; uploads answered at once, so CPU bounds it: machine ${fmt(100 * (report.machineBusy ?? NaN), 0)}% busy). Memory was sampled ${label(watch.samples)} times. The dashboard answered ${label(polled.requests)} requests (the page's /api/overview every 2 s, /metrics and bull-board's queue list every 16 s), the slowest in ${fmt(polled.slowestMs, 0)} ms. ${summary.failed ? `${summary.failed} records failed and count as processed.` : ''}`,
      '',
      'CPU per record (both processes working the batch):',
      '',
      ...table(['process', 'CPU ms per record', '% of one core'], cpuRows(report, n)),
    ],
  };
}
