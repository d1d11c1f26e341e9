import { spawn } from 'node:child_process';
import { fmt, mb, table, type BenchContext, type ScenarioResult } from './report.ts';
import { processRss, spawnCli, succeeded, type World } from './world.ts';
import { firstUploadSeconds } from './first-upload.ts';

/**
 * L. What every `npx media-migrate …` costs before it does anything: the compiled CLI started afresh
 * each time (a new process, as a user or a script runs it), timed from spawn to exit. `status` reads
 * a ledger holding one small batch (a million-record ledger is timed in scenario 3).
 */
const RUNS = 10;

async function timeCommand(world: World, argv: string[]): Promise<{ seconds: number[]; peakRss: number }> {
  const seconds: number[] = [];
  let peakRss = 0;
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const p = spawnCli(argv, world.env('cloudinary://unused:unused@unused'));
    // The kernel's peak for the process, read until it exits.
    const sampling = (async () => {
      while (p.child.exitCode === null) {
        const r = await processRss(p.child.pid!);
        if (r) peakRss = Math.max(peakRss, r.peak);
        await new Promise((res) => setTimeout(res, 5));
      }
    })();
    await succeeded(p, argv.join(' '));
    seconds.push((performance.now() - t0) / 1000);
    await sampling;
  }
  return { seconds, peakRss };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function scenarioLaunch(ctx: BenchContext, world: World): Promise<ScenarioResult> {
  await world.resetState();
  await world.fillRows(1_000);
  // A batch for `status` to read; its rows' files need not exist (--allow-missing).
  await succeeded(spawnCli(['enqueue', '--allow-missing'], world.env('cloudinary://unused:unused@unused')), 'enqueue');
  const commands: { label: string; argv: string[]; target?: number }[] = [
    { label: '--help', argv: ['--help'], target: 0.4 },
    { label: '--version', argv: ['--version'] },
    { label: 'status', argv: ['status'], target: 0.7 },
    { label: 'status --json', argv: ['status', '--json'] },
  ];
  const rows: (string | number)[][] = [];
  const figures: ScenarioResult['figures'] = [];
  for (const c of commands) {
    ctx.log(`L: ${c.label}, ${RUNS} times`);
    const r = await timeCommand(world, c.argv);
    const m = median(r.seconds);
    rows.push([`media-migrate ${c.label}`, fmt(r.seconds[0]!, 2), fmt(m, 2), fmt(Math.max(...r.seconds), 2), fmt(mb(r.peakRss), 0)]);
    if (c.target !== undefined) figures.push({ label: `media-migrate ${c.label}, wall time (median of ${RUNS})`, value: m, unit: 's', digits: 2, target: { op: '<=', value: c.target } });
  }
  // What Node itself takes to start and stop, for scale.
  const bare: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await new Promise((res) => spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' }).once('exit', res));
    bare.push((performance.now() - t0) / 1000);
  }
  rows.push(['`node -e 0` (Node alone)', fmt(bare[0]!, 2), fmt(median(bare), 2), fmt(Math.max(...bare), 2), '']);
  // Issue 19: from `migrate`'s start to its first upload request, small and large (--rows) libraries.
  const starts: (string | number)[][] = [];
  for (const [n, runs] of [[2_400, 5], [ctx.rows ?? (ctx.quick ? 20_000 : 1_000_000), 3]] as const) {
    ctx.log(`L: migrate's first upload request over ${n.toLocaleString('en-US')} rows, ${runs} times`);
    const s = await firstUploadSeconds(world, n, runs);
    const m = median(s);
    starts.push([n.toLocaleString('en-US'), fmt(s[0]!, 2), fmt(m, 2), fmt(Math.max(...s), 2)]);
    figures.push({ label: `migrate: first upload request after the command starts, ${n.toLocaleString('en-US')} rows (median of ${runs})`, value: m, unit: 's', digits: 2, target: { op: '<=', value: 1.0 } });
  }
  await world.resetState();
  return {
    id: 'L',
    title: 'Starting a command',
    figures,
    details: [
      ...table(['command', 'first run (s)', 'median (s)', 'slowest (s)', 'peak RSS (MB)'], rows),
      '',
      `Each a new process running the compiled \`bin/media-migrate.js\`, from spawn to exit, ${RUNS} times in a row (the files are in the page cache after the first). \`status\` opens the database and reads the ledger, so its time includes connecting to PostgreSQL.`,
      '',
      ...table(['rows', 'first run (s)', 'median (s)', 'slowest (s)'], starts),
      '',
      '`migrate --concurrency 8` from spawn to the emulator\'s first upload request (20 ms latency), a new batch each time: workers start on the first page of records while the rest of the batch is recorded (issue 19).',
    ],
  };
}
