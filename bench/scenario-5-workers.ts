import { bareSdkLoop, loadImages } from './loops.ts';
import { benchQueue, cpuRows, databaseNow, ledgerTiming, runEnqueue, startWorkers, stopWorkers, waitUntilDone } from './pipeline.ts';
import { fmt, table, type BenchContext, type Figure, type ScenarioResult } from './report.ts';
import { CpuMeter, type CpuReport, type World } from './world.ts';

/**
 * 5. Horizontal scale: 1, 2 and 4 `media-migrate worker` processes (32 uploads in flight each) on one
 * batch, uploads answered after 250 ms. Each point is set beside the emulator alone at the same total
 * concurrency, so the curve shows where the pipeline stops following the emulator.
 */
const LATENCY_MS = 250;
const PER_WORKER = 32;

interface Point {
  workers: number;
  inFlight: number;
  images: number;
  /** Records that did not end migrated (a rare refused upload); they count as processed. */
  failed: number;
  perSecond: number;
  emulatorAlone: number;
  cpu: CpuReport;
}

export async function scenarioWorkers(ctx: BenchContext, world: World): Promise<ScenarioResult> {
  const plan = ctx.quick
    ? [
        { workers: 1, images: 128 },
        { workers: 2, images: 192 },
      ]
    : [
        { workers: 1, images: 3_000 },
        { workers: 2, images: 5_000 },
        { workers: 4, images: 8_000 },
      ];
  await world.writeImages(0, Math.max(...plan.map((p) => p.images)));
  const files = await loadImages(world.mediaRoot, 200);
  const emulator = await world.emulator(LATENCY_MS);
  const points: Point[] = [];
  for (const { workers, images } of plan) {
    const inFlight = workers * PER_WORKER;
    ctx.log(`5: emulator alone, ${inFlight} in flight`);
    const alone = await bareSdkLoop(emulator.cloudinaryUrl, files, inFlight * (ctx.quick ? 2 : 8), inFlight, `s5-${workers}`);
    await world.fillRows(images);
    await world.resetState();
    await emulator.reset();
    const bq = await benchQueue(world);
    const queue = bq.queue;
    try {
      await queue.pause();
      await runEnqueue(world, emulator);
      ctx.log(`5: ${workers} worker process(es) over ${images} rows`);
      const procs = await startWorkers(world, emulator, workers, PER_WORKER);
      const cpu = new CpuMeter();
      await cpu.track('emulator', emulator.pid);
      await cpu.track('redis', world.redis.pid);
      for (const p of procs) await cpu.track('workers', p.child.pid!);
      try {
        const t0 = await databaseNow(world);
        await cpu.begin();
        await queue.resume();
        await waitUntilDone(world, 600_000);
        const report = await cpu.end();
        const t = await ledgerTiming(world, t0);
        if (t.migrated + t.notMigrated !== images) throw new Error(`bench: ${t.migrated + t.notMigrated} of ${images} finished with ${workers} workers`);
        points.push({ workers, inFlight, images, failed: t.notMigrated, perSecond: images / t.seconds, emulatorAlone: alone.perSecond, cpu: report });
      } finally {
        await stopWorkers(procs);
      }
    } finally {
      await bq.close();
    }
  }
  const figures: Figure[] = points.map((p) => ({
    label: `${p.workers} worker${p.workers > 1 ? 's' : ''} × ${PER_WORKER} in flight`,
    value: p.perSecond,
    unit: 'images/s',
    digits: 0,
  }));
  const top = points[points.length - 1]!;
  return {
    id: '5',
    title: `Horizontal scale (${LATENCY_MS} ms per upload)`,
    figures,
    details: [
      ...table(
        ['workers', 'in flight', 'physical limit (images/s)', 'emulator alone (images/s)', 'pipeline (images/s)', 'pipeline / emulator alone', 'machine busy'],
        points.map((p) => [
          p.workers,
          p.inFlight,
          fmt((p.inFlight * 1000) / LATENCY_MS, 0),
          fmt(p.emulatorAlone, 0),
          fmt(p.perSecond, 0),
          `${fmt((100 * p.perSecond) / p.emulatorAlone, 0)}%`,
          `${fmt(100 * (p.cpu.machineBusy ?? NaN), 0)}%`,
        ]),
      ),
      '',
      `Workers are real processes started before the queue is resumed; the time runs from the resume to the last finished record (ledger). CPU per image with ${top.workers} workers:`,
      '',
      ...table(['process', 'CPU ms per image', '% of one core'], cpuRows(top.cpu, top.images)),
      ...points.filter((p) => p.failed > 0).flatMap((p) => ['', `With ${p.workers} workers, ${p.failed} of ${p.images} records did not end migrated (see the ledger); they count as processed.`]),
    ],
  };
}
