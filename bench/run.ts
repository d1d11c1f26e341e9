/**
 * `npm run bench [-- --quick] [-- --only 1,3,P] [-- --rows N] [-- --out FILE]`: the performance scenarios of the
 * tool against real PostgreSQL, a private Redis and the bundled emulator. Prints the figures as a
 * table; a full run of every scenario also writes them into BENCHMARKS.md (between its markers,
 * keeping the notes around them). `--quick` (CI) runs everything small, in under a minute, and writes
 * nothing unless `--out` says where. Exit 1 when a scenario could not run; a missed target is a
 * figure to read, not a failure (the machine is shared and noisy).
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { scenarioProfile } from './profile.ts';
import { machineLines, renderResults, writeBenchmarks, type BenchContext, type ScenarioResult } from './report.ts';
import { scenarioSequential } from './scenario-1-sequential.ts';
import { scenarioQueueless } from './scenario-2-queueless.ts';
import { scenarioEnqueue } from './scenario-3-enqueue.ts';
import { scenarioRedis } from './scenario-4-redis.ts';
import { scenarioWorkers } from './scenario-5-workers.ts';
import { scenarioSearch } from './scenario-s-search.ts';
import { scenarioFlush } from './scenario-f-flush.ts';
import { scenarioLaunch } from './scenario-l-launch.ts';
import { scenarioCutover } from './scenario-c-cutover.ts';
import { scenarioAudit } from './scenario-a-audit.ts';
import { scenarioText } from './scenario-t-text.ts';
import { createWorld, describeMachine, ROOT, type World } from './world.ts';

// The long ones last (the million-record batch alone takes well over an hour), the timing-sensitive first.
const SCENARIOS: { id: string; run: (ctx: BenchContext, world: World) => Promise<ScenarioResult> }[] = [
  { id: '1', run: scenarioSequential },
  { id: '2', run: scenarioQueueless },
  { id: 'L', run: scenarioLaunch },
  { id: '3', run: scenarioEnqueue },
  { id: '5', run: scenarioWorkers },
  { id: 'P', run: scenarioProfile },
  { id: 'S', run: scenarioSearch },
  { id: 'C', run: scenarioCutover },
  { id: 'A', run: scenarioAudit },
  { id: 'T', run: scenarioText },
  { id: 'F', run: scenarioFlush },
  { id: '4', run: scenarioRedis },
];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
    rows: { type: 'string' },
  },
});
const only = values.only ? new Set(values.only.split(',').map((s) => s.trim().toUpperCase())) : undefined;
const chosen = SCENARIOS.filter((s) => !only || only.has(s.id));
if (chosen.length === 0) {
  process.stderr.write(`bench: --only ${values.only}: no such scenario (${SCENARIOS.map((s) => s.id).join(', ')})\n`);
  process.exit(2);
}
const quick = values.quick ?? false;
const started = Date.now();
const rows = values.rows === undefined ? undefined : Number(values.rows);
if (rows !== undefined && !(Number.isInteger(rows) && rows >= 1_000)) {
  process.stderr.write(`bench: --rows ${values.rows}: expected a whole number of at least 1000\n`);
  process.exit(2);
}
const ctx: BenchContext = {
  quick,
  rows,
  log: (m) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${m}\n`),
};

const world = await createWorld();
let closing: Promise<void> | undefined;
const cleanUp = () => (closing ??= world.close().catch((err: unknown) => ctx.log(`clean-up failed: ${String(err)}`)));
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    ctx.log(`${sig}: removing the bench's schema, Redis and files`);
    void cleanUp().then(() => process.exit(130));
  });
}

const results: ScenarioResult[] = [];
const failures: string[] = [];
let header: string[] = [];
try {
  const machine = await describeMachine(world);
  ctx.log(`${quick ? 'quick' : 'full'} run on ${machine.cores} cores, ${machine.memoryGb} GB; load ${machine.loadBefore}`);
  for (const s of chosen) {
    try {
      const result = await s.run(ctx, world);
      // Small runs are dominated by start-up and ramp: their figures keep the code honest, not the targets.
      if (quick) for (const f of result.figures) if (f.target) f.notApplicable ??= 'quick run, not judged';
      results.push(result);
    } catch (err) {
      const message = `${s.id}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
      failures.push(message.split('\n').slice(0, 6).join(' '));
      ctx.log(`scenario ${message}`);
      await world.resetState().catch(() => {});
    }
  }
  const loadAfter = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  header = machineLines(machine, new Date(), quick ? 'quick' : 'full', loadAfter);
} finally {
  await cleanUp();
}

const text = renderResults(results, header, failures);
process.stdout.write(`\n${text}\n`);
const out = values.out ?? (!quick && !only && rows === undefined ? join(ROOT, 'BENCHMARKS.md') : undefined);
if (out) {
  await writeBenchmarks(out, text);
  ctx.log(`figures written to ${out}`);
}
ctx.log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(failures.length > 0 ? 1 : 0);
