import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import knex, { type Knex } from 'knex';
import type { Env } from '../src/config/config.ts';
import { createShopTables } from '../src/django/fixture.ts';
import { pngBytes } from '../src/django/sample-images.ts';

/**
 * The benchmarks' world, built fresh for each run and removed afterwards: a PostgreSQL schema of its
 * own in the local server, a private `redis-server` (so memory and command counts are ours alone), a
 * media folder of small real PNGs, and the Cloudinary emulator in a process of its own (so its CPU
 * does not share the event loop of what it measures).
 */

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BENCH_DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The source table every scenario migrates: the seed app's `shop_productimages` (id, image varchar(100)). */
export const SOURCE_TABLE = 'shop_productimages';

export { freePort } from '../test/helpers/processes.ts';
import { freePort } from '../test/helpers/processes.ts';

/**
 * The benchmarks' world, one piece: the databases, media folder, emulator and processes every scenario
 * builds on, so that all scenarios measure the same setup.
 */

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 20_000, everyMs = 50): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`bench: timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc (Linux): which process spent how much CPU during a measured run.

const TICK_MS = 10; // USER_HZ is 100 on every Linux we run on

/** utime+stime of one process, in ms; undefined once it is gone. */
export async function processCpuMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

/** Resident set size of a process and its peak so far (VmHWM), in bytes. */
export async function processRss(pid: number): Promise<{ rss: number; peak: number } | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    const rss = kb('VmRSS');
    const peak = kb('VmHWM');
    // A process that has exited but not been reaped has no memory lines left.
    return Number.isFinite(rss) && Number.isFinite(peak) ? { rss, peak } : undefined;
  } catch {
    return undefined;
  }
}

/** Whole-machine CPU: busy and total jiffies from /proc/stat. */
async function machineTicks(): Promise<{ busy: number; total: number } | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** CPU of every `postgres` process (the server is shared: this includes other users' queries). */
async function postgresCpuMs(): Promise<number> {
  let sum = 0;
  try {
    const { readdir } = await import('node:fs/promises');
    for (const d of await readdir('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = await readFile(`/proc/${d}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        if (name !== 'postgres') continue;
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        // Own time plus reaped children's: the postmaster collects the time of backends that exited.
        sum += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS;
      } catch {
        // the process ended while we looked
      }
    }
  } catch {
    return 0;
  }
  return sum;
}

export interface CpuReport {
  wallMs: number;
  /** Share of the machine's CPU time that was busy (all processes, ours and others'). */
  machineBusy: number | undefined;
  /** CPU ms spent by each named process group during the run. */
  byProcess: Record<string, number>;
}

/**
 * Samples the CPU of named processes every 200 ms (a child's last sample is kept after it exits),
 * plus PostgreSQL as a whole and the machine as a whole.
 */
export class CpuMeter {
  private readonly start = new Map<string, number>();
  private readonly last = new Map<string, number>();
  private readonly pids = new Map<string, number[]>();
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;
  private machine0: { busy: number; total: number } | undefined;
  private pg0 = 0;
  private self0: NodeJS.CpuUsage | undefined;

  /** Tracks `pid` under `label` (several pids may share a label: their CPU is summed). */
  async track(label: string, pid: number): Promise<void> {
    const key = `${label}#${pid}`;
    const ms = (await processCpuMs(pid)) ?? 0;
    if (!this.start.has(key)) this.start.set(key, this.t0 === 0 ? ms : 0);
    this.last.set(key, ms);
    const list = this.pids.get(label) ?? [];
    list.push(pid);
    this.pids.set(label, list);
  }

  async begin(): Promise<void> {
    this.t0 = performance.now();
    this.machine0 = await machineTicks();
    this.pg0 = await postgresCpuMs();
    this.self0 = process.cpuUsage();
    for (const key of this.last.keys()) {
      const pid = Number(key.split('#').pop());
      this.start.set(key, (await processCpuMs(pid)) ?? this.last.get(key) ?? 0);
    }
    this.timer = setInterval(() => void this.sample(), 200);
    this.timer.unref();
  }

  private async sample(): Promise<void> {
    for (const key of this.last.keys()) {
      const ms = await processCpuMs(Number(key.split('#').pop()));
      if (ms !== undefined) this.last.set(key, ms);
    }
  }

  async end(): Promise<CpuReport> {
    if (this.timer) clearInterval(this.timer);
    await this.sample();
    const wallMs = performance.now() - this.t0;
    const m1 = await machineTicks();
    const byProcess: Record<string, number> = {};
    for (const [key, ms] of this.last) {
      const label = key.slice(0, key.lastIndexOf('#'));
      byProcess[label] = (byProcess[label] ?? 0) + ms - (this.start.get(key) ?? 0);
    }
    const self = process.cpuUsage(this.self0);
    byProcess['bench process'] = (self.user + self.system) / 1000;
    byProcess['postgres (whole server)'] = (await postgresCpuMs()) - this.pg0;
    const machineBusy = m1 && this.machine0 ? (m1.busy - this.machine0.busy) / Math.max(1, m1.total - this.machine0.total) : undefined;
    return { wallMs, machineBusy, byProcess };
  }
}

// ---------------------------------------------------------------------------------------------
// A private Redis: memory and command statistics that are ours alone.

export interface PrivateRedis {
  url: string;
  port: number;
  pid: number;
  client: Redis;
  usedMemory(): Promise<number>;
  /** `INFO commandstats` as command → calls. */
  commandCalls(): Promise<Map<string, number>>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const proc: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxclients', '1000'],
    { stdio: 'ignore' },
  );
  const failed = new Promise<never>((_, reject) =>
    proc.once('error', (err) => reject(new Error(`bench: cannot start redis-server (${err.message}); is it installed?`))),
  );
  await Promise.race([waitUntil('redis-server to listen', () => canConnect(port)), failed]);
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: null });
  const info = async (section: string) => client.info(section);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: proc.pid!,
    client,
    async usedMemory() {
      return Number(/used_memory:(\d+)/.exec(await info('memory'))?.[1] ?? NaN);
    },
    async commandCalls() {
      const out = new Map<string, number>();
      for (const m of (await info('commandstats')).matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) out.set(m[1]!, Number(m[2]));
      return out;
    },
    async stop() {
      client.disconnect();
      if (proc.exitCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await gone;
    },
  };
}

/** Bytes of every key under `prefix:` (MEMORY USAGE, pipelined), split by a classifier. */
export async function prefixMemory(
  redis: Redis,
  prefix: string,
  classify: (key: string) => string = () => 'all',
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 2000);
    cursor = next;
    if (keys.length === 0) continue;
    const p = redis.pipeline();
    for (const k of keys) p.memory('USAGE', k, 'SAMPLES', '0');
    const res = (await p.exec()) ?? [];
    keys.forEach((k, i) => {
      const c = classify(k);
      out[c] = (out[c] ?? 0) + Number(res[i]?.[1] ?? 0);
    });
  } while (cursor !== '0');
  return out;
}

// ---------------------------------------------------------------------------------------------
// The emulator in a process of its own, steered through its HTTP control API.

export interface EmulatorProcess {
  url: string;
  pid: number;
  cloudinaryUrl: string;
  setFaults(f: { latencyMs?: number; latencyJitterMs?: number }): Promise<void>;
  stats(): Promise<{ uploadRequests: number; created: number; existing: number }>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startEmulatorProcess(faults: { latencyMs: number; latencyJitterMs?: number }): Promise<EmulatorProcess> {
  const port = await freePort();
  const p = spawnCli(['emulator', '--port', String(port)], {
    EMULATOR_LATENCY_MS: String(faults.latencyMs),
    EMULATOR_LATENCY_JITTER_MS: String(faults.latencyJitterMs ?? 0),
    LOG_LEVEL: 'warn',
  });
  const { child, exited } = p;
  await waitUntil('the emulator to listen', async () => {
    if (child.exitCode !== null) throw new Error(`bench: the emulator exited: ${p.output()}`);
    return p.output().includes('listening on');
  });
  const url = `http://127.0.0.1:${port}`;
  const control = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}/__emulator/${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    if (!res.ok) throw new Error(`bench: emulator ${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<unknown>;
  };
  return {
    url,
    pid: child.pid!,
    cloudinaryUrl: `cloudinary://123456789012345:emulator-secret@demo?upload_prefix=${url}`,
    setFaults: async (f) => void (await control('PUT', 'faults', f)),
    stats: async () => (await control('GET', 'stats')) as { uploadRequests: number; created: number; existing: number },
    reset: async () => void (await control('POST', 'reset')),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(5_000).then(() => child.kill('SIGKILL'))]);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Spawned CLI processes.

// The same spawning the tests use, so both measure the command a user runs.
export { spawnCli, type CliProcess as Spawned } from '../test/helpers/processes.ts';
import { spawnCli, type CliProcess } from '../test/helpers/processes.ts';

/** Waits for a spawned command and fails with its output when it did not exit 0. */
export async function succeeded(p: CliProcess, what: string): Promise<string> {
  const { code } = await p.exited;
  if (code !== 0) throw new Error(`bench: ${what} exited ${code}:\n${p.output().slice(-4000)}`);
  return p.output();
}

// ---------------------------------------------------------------------------------------------
// The world: schema + private Redis + media folder (+ emulator, started per scenario).

export interface World {
  id: string;
  schema: string;
  prefix: string;
  mediaRoot: string;
  db: Knex;
  redis: PrivateRedis;
  /**
   * The emulator process (started on first use, shared by the scenarios), emptied and set to answer
   * uploads after `latencyMs`.
   */
  emulator(latencyMs: number): Promise<EmulatorProcess>;
  /** Settings for a `media-migrate` process in this world, pointed at `cloudinaryUrl`. */
  env(cloudinaryUrl: string, extra?: Env): Env;
  /** Writes PNG files `products/p<i>.png` for i in [from, to) (skips those already written). */
  writeImages(from: number, to: number): Promise<void>;
  /** Empties the source table and fills it with `n` rows pointing at `products/p<i>.png`. */
  fillRows(n: number): Promise<void>;
  /** Drops the ledger's rows and Redis keys so the next measurement starts from nothing. */
  resetState(): Promise<void>;
  close(): Promise<void>;
}

export const imageName = (i: number) => `products/p${i}.png`;

export async function createWorld(): Promise<World> {
  const id = randomBytes(4).toString('hex');
  const schema = `bench_${id}`;
  const prefix = `mmbench-${id}`;
  const admin = knex({ client: 'pg', connection: BENCH_DATABASE_URL, pool: { min: 0, max: 1 } });
  try {
    await admin.raw(`create schema "${schema}"`);
  } catch (err) {
    throw new Error(`bench: cannot create a schema in ${BENCH_DATABASE_URL.replace(/:[^:@/]*@/, '@')} (${(err as Error).message}); set BENCH_DATABASE_URL`);
  } finally {
    await admin.destroy();
  }
  const db = knex({ client: 'pg', connection: BENCH_DATABASE_URL, searchPath: [schema], pool: { min: 0, max: 4 } });
  await createShopTables(db);
  const redis = await startRedis();
  const mediaRoot = await mkdtemp(join(tmpdir(), `mm-bench-${id}-`));
  await mkdir(join(mediaRoot, 'products'));
  let written = 0;
  let emulator: EmulatorProcess | undefined;

  const world: World = {
    id,
    schema,
    prefix,
    mediaRoot,
    db,
    redis,
    async emulator(latencyMs) {
      emulator ??= await startEmulatorProcess({ latencyMs });
      await emulator.setFaults({ latencyMs, latencyJitterMs: 0 });
      await emulator.reset();
      return emulator;
    },
    env: (cloudinaryUrl, extra = {}) => ({
      DATABASE_URL: BENCH_DATABASE_URL,
      DATABASE_SCHEMA: schema,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: prefix,
      MEDIA_ROOT: mediaRoot,
      CLOUDINARY_URL: cloudinaryUrl,
      LOG_LEVEL: 'warn',
      ...extra,
    }),
    async writeImages(from, to) {
      const start = Math.max(from, written);
      for (let i = start; i < to; i += 500) {
        const end = Math.min(to, i + 500);
        const writes: Promise<void>[] = [];
        for (let k = i; k < end; k++) writes.push(writeFile(join(mediaRoot, imageName(k)), pngBytes(16 + (k % 9), 12 + (k % 5), k)));
        await Promise.all(writes);
      }
      written = Math.max(written, to);
    },
    async fillRows(n) {
      await db.raw(`truncate ${SOURCE_TABLE} restart identity`);
      // One statement, so a million rows take seconds; the value is what Django would store.
      await db.raw(`insert into ${SOURCE_TABLE} (image) select 'products/p' || (g - 1) || '.png' from generate_series(1, ?) g`, [n]);
      await db.raw(`analyze ${SOURCE_TABLE}`);
    },
    async resetState() {
      await db.raw('truncate media_migrate_records, media_migrate_batches restart identity cascade').catch(() => {});
      await redis.client.flushall();
    },
    async close() {
      await emulator?.stop();
      await db.destroy();
      await redis.stop();
      const a = knex({ client: 'pg', connection: BENCH_DATABASE_URL, pool: { min: 0, max: 1 } });
      await a.raw(`drop schema if exists "${schema}" cascade`).finally(() => a.destroy());
      await rm(mediaRoot, { recursive: true, force: true });
    },
  };
  return world;
}

// ---------------------------------------------------------------------------------------------
// The machine the figures come from.

export interface Machine {
  cores: number;
  cpu: string;
  memoryGb: number;
  node: string;
  redis: string;
  postgres: string;
  loadBefore: string;
}

export async function describeMachine(world: World): Promise<Machine> {
  const redisInfo = await world.redis.client.info('server');
  const pg = (await world.db.raw('show server_version')) as { rows: { server_version: string }[] };
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    redis: /redis_version:(\S+)/.exec(redisInfo)?.[1] ?? '?',
    postgres: pg.rows[0]?.server_version.split(' ')[0] ?? '?',
    loadBefore: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
  };
}
