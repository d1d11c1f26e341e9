import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { QUEUE_NAME } from '../src/pipeline/queue.ts';
import { readCounters } from '../src/pipeline/counters.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';
import { spawnCli, startPrivateRedis, startTcpProxy, waitFor, type CliProcess } from './helpers/processes.ts';

/**
 * The faults a production run must survive, each with real processes, real Redis and PostgreSQL and
 * the emulator's fault injection. Each test ends by checking the final state exactly: one outcome per
 * record, no asset created twice, no asset that no row points at.
 */

let h: Harness;
const procs: CliProcess[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await h?.close();
});

const FAST_RECOVERY = { LOCK_DURATION_MS: '1500', STALLED_INTERVAL_MS: '500', LOG_LEVEL: 'info', RETRY_BACKOFF_MS: '100' };

async function seed(n: number) {
  for (let i = 1; i <= n; i++) await h.file(`p/${i}.png`, pngBytes(3 + (i % 4), 3, i));
  await h.db('shop_productimages').insert(Array.from({ length: n }, (_, i) => ({ image: `p/${i + 1}.png` })));
}

async function ledgerCounts() {
  return h.ledger.counts.total(1);
}

function worker(env: Record<string, string> = {}, concurrency = 4) {
  const p = spawnCli(['worker', '--concurrency', String(concurrency)], { ...h.env, ...FAST_RECOVERY, ...env });
  procs.push(p);
  return p;
}

/** The invariants every scenario ends with. */
async function expectExactFinalState(n: number) {
  const records = await h.db('media_migrate_records').where({ batch_id: 1 });
  expect(records).toHaveLength(n);
  expect(records.filter((r) => r.outcome === 'migrated')).toHaveLength(n);
  const rows = await h.db('shop_productimages');
  const stats = h.emulator.stats();
  // No asset created twice, none overwritten.
  expect(stats.overwritten).toBe(0);
  expect(Math.max(...Object.values(stats.createdByPublicId))).toBe(1);
  expect(h.emulator.assets.size).toBe(n);
  // No asset that no row points at, and every row points at an asset holding its file's bytes.
  expect(new Set(rows.map((r) => r.image))).toEqual(new Set(h.emulator.assets.keys()));
  for (const r of records) {
    const row = rows.find((x) => String(x.id) === r.pk);
    expect(row?.image).toBe(r.new_value);
    expect(h.emulator.assets.get(r.new_value)?.etag).toBe(r.etag);
  }
  return { records, stats };
}

describe('fault tolerance', () => {
  it('1. a worker killed with SIGKILL mid-batch: its jobs are picked up, nothing duplicated or orphaned', async () => {
    h = await createHarness({ emulator: { faults: { latencyMs: 300, latencyJitterMs: 100 } } });
    const n = 60;
    await seed(n);
    expect((await h.run(['enqueue'])).code).toBe(0);
    const started = Date.now();
    // The victim works alone until it is killed, so it certainly dies with uploads in flight (each of
    // its four slots spends nearly all its time waiting on an upload's answer).
    const victim = worker();
    await waitFor('some progress', async () => (await ledgerCounts()).migrated >= 5);
    victim.child.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    const others = [worker(), worker()];
    await waitFor('the batch to finish', async () => (await ledgerCounts()).pending === 0, 60_000);
    for (const p of others) p.child.kill('SIGTERM');
    expect((await Promise.all(others.map((p) => p.exited))).map((e) => e.code)).toEqual([0, 0]);
    const { records, stats } = await expectExactFinalState(n);
    // Uploads that had landed when the worker died were recognised on retry (existing: true), not redone.
    const reused = records.filter((r) => r.reason === 'reused').length;
    expect(reused).toBeGreaterThan(0);
    // Each reused record met its asset as existing; on a loaded machine a live worker's short lock
    // (1.5 s here) can also lapse, and a second worker then meets an asset the first just made.
    expect(stats.existing).toBeGreaterThanOrEqual(reused);
    console.info(`[scenario 1] records=${n} reused-after-kill=${reused} uploads=${stats.uploadRequests} duplicates=0 orphans=0 time=${Date.now() - started}ms`);
  });

  it('2a. Redis flushed mid-batch: workers carry on, and enqueue again finishes exactly what was not finished', async () => {
    const redis = await startPrivateRedis();
    try {
      h = await createHarness({ emulator: { faults: { latencyMs: 200 } }, env: { REDIS_URL: redis.url } });
      const n = 60;
      await seed(n);
      expect((await h.run(['enqueue'])).code).toBe(0);
      const started = Date.now();
      const ws = [worker({}, 3), worker({}, 3)];
      await waitFor('some progress', async () => (await ledgerCounts()).migrated >= 15);
      const flushAt = new Date();
      const client = new Redis(redis.url);
      await client.flushdb();
      client.disconnect();
      // The jobs are gone; the ledger still knows what is pending. Running enqueue again (as one did
      // before the workers refilled the window themselves) hands over what the workers have not yet.
      const pendingAfterFlush = (await ledgerCounts()).pending;
      expect(pendingAfterFlush).toBeGreaterThan(0);
      const again = await h.run(['enqueue', '--json'], { env: FAST_RECOVERY });
      expect(JSON.parse(again.stdout)).toMatchObject({ batch: 1, resumed: true });
      expect(JSON.parse(again.stdout).enqueued).toBeLessThanOrEqual(pendingAfterFlush);
      await waitFor('the batch to finish', async () => (await ledgerCounts()).pending === 0, 60_000);
      for (const p of ws) p.child.kill('SIGTERM');
      expect((await Promise.all(ws.map((p) => p.exited))).map((e) => e.code)).toEqual([0, 0]);
      const { records, stats } = await expectExactFinalState(n);
      // Nothing done before the flush was done again.
      const doneBefore = records.filter((r) => new Date(r.finished_at) < flushAt);
      expect(doneBefore.length).toBeGreaterThanOrEqual(15);
      for (const r of doneBefore) expect(r.attempts).toBe(1);
      expect(stats.uploadRequests).toBeLessThanOrEqual(n + 6);
      console.info(`[scenario 2a] records=${n} done-before-flush=${doneBefore.length} re-enqueued=${pendingAfterFlush} uploads=${stats.uploadRequests} duplicates=0 orphans=0 time=${Date.now() - started}ms`);
    } finally {
      await redis.stop();
    }
  });

  it('2c. Redis flushed mid-batch with a window smaller than the batch: the workers heal it, no command run again', async () => {
    const redis = await startPrivateRedis();
    try {
      h = await createHarness({ emulator: { faults: { latencyMs: 150 } }, env: { REDIS_URL: redis.url, QUEUE_WINDOW: '8' } });
      const n = 60;
      await seed(n);
      const e = JSON.parse((await h.run(['enqueue', '--json'])).stdout);
      // The ledger has the whole batch at once; Redis only the first window.
      expect(e).toMatchObject({ batch: 1, total: n, pending: n, enqueued: 8 });
      const started = Date.now();
      const ws = [worker({}, 3), worker({}, 3)];
      await waitFor('some progress', async () => (await ledgerCounts()).migrated >= 20);
      const flushAt = new Date();
      const client = new Redis(redis.url);
      await client.flushall();
      client.disconnect();
      await waitFor('the batch to finish', async () => (await ledgerCounts()).pending === 0, 60_000);
      for (const p of ws) p.child.kill('SIGTERM');
      expect((await Promise.all(ws.map((p) => p.exited))).map((e) => e.code)).toEqual([0, 0]);
      const { records, stats } = await expectExactFinalState(n);
      const doneBefore = records.filter((r) => new Date(r.finished_at) < flushAt);
      for (const r of doneBefore) expect(r.attempts).toBe(1);
      // The uploads in flight at the flush finished in their workers; their records were handed
      // over again only after that, so none was uploaded twice.
      expect(stats.uploadRequests).toBe(n);
      console.info(`[scenario 2c] records=${n} window=8 done-before-flush=${doneBefore.length} uploads=${stats.uploadRequests} duplicates=0 orphans=0 time=${Date.now() - started}ms`);
    } finally {
      await redis.stop();
    }
  });

  it('2b. Redis restarted empty mid-batch: workers reconnect, and migrate again finishes the rest', async () => {
    const redis = await startPrivateRedis();
    try {
      h = await createHarness({ emulator: { faults: { latencyMs: 200 } }, env: { REDIS_URL: redis.url } });
      const n = 40;
      await seed(n);
      expect((await h.run(['enqueue'])).code).toBe(0);
      const ws = [worker({}, 3)];
      await waitFor('some progress', async () => (await ledgerCounts()).migrated >= 10);
      await redis.stop();
      await new Promise((r) => setTimeout(r, 500));
      await redis.start();
      const r = await h.run(['migrate', '--concurrency', '3']);
      expect(r.stdout.trim()).toBe(`✔ DONE | Migrated=${n} | Missing=0 | Skipped=0 | Failed=0`);
      // The worker process survived the restart and is still taking jobs.
      expect(ws[0]!.child.exitCode).toBeNull();
      ws[0]!.child.kill('SIGTERM');
      expect((await ws[0]!.exited).code).toBe(0);
      await expectExactFinalState(n);
    } finally {
      await redis.stop();
    }
  });

  it('3. PostgreSQL unreachable for 10 s mid-batch: jobs wait and retry; no row half-written', async () => {
    h = await createHarness({ emulator: { faults: { latencyMs: 200 } } });
    const proxy = await startTcpProxy(5432);
    try {
      const n = 40;
      await seed(n);
      expect((await h.run(['enqueue'])).code).toBe(0);
      const viaProxy = { DATABASE_URL: h.env.DATABASE_URL!.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`) };
      const started = Date.now();
      const ws = [worker(viaProxy, 3), worker(viaProxy, 3)];
      await waitFor('some progress', async () => (await ledgerCounts()).migrated >= 8);
      await proxy.cut();
      const during = await ledgerCounts();
      await new Promise((r) => setTimeout(r, 10_000));
      // Nothing could be written while the database was away.
      expect((await ledgerCounts()).migrated).toBe(during.migrated);
      await proxy.restore();
      await waitFor('the batch to finish', async () => (await ledgerCounts()).pending === 0, 60_000);
      for (const p of ws) p.child.kill('SIGTERM');
      expect((await Promise.all(ws.map((p) => p.exited))).map((e) => e.code)).toEqual([0, 0]);
      const { records, stats } = await expectExactFinalState(n);
      const client = new Redis(h.env.REDIS_URL!);
      const counters = await readCounters(client, h.prefix);
      client.disconnect();
      expect(counters.database_waits).toBeGreaterThan(0);
      console.info(`[scenario 3] records=${n} database-waits=${counters.database_waits} reused=${records.filter((r) => r.reason === 'reused').length} uploads=${stats.uploadRequests} duplicates=0 orphans=0 time=${Date.now() - started}ms`);
    } finally {
      await proxy.close();
    }
  });

  it('4. flaky Cloudinary (20% 500, 5% 420, 2% never answered): the batch finishes with failed = 0', async () => {
    h = await createHarness({
      emulator: { faults: { errorRate: 0.2, rateLimitRate: 0.05, hangRate: 0.02, rateLimitRetryAfterMs: 300, latencyMs: 20 }, seed: 1234 },
    });
    const n = 80;
    await seed(n);
    const started = Date.now();
    const r = await h.run(['migrate', '--concurrency', '8'], {
      env: { UPLOAD_TIMEOUT_MS: '700', JOB_ATTEMPTS: '12', RETRY_BACKOFF_MS: '50' },
    });
    expect(r.stdout.trim()).toBe(`✔ DONE | Migrated=${n} | Missing=0 | Skipped=0 | Failed=0`);
    const { stats } = await expectExactFinalState(n);
    expect(stats.injected.errors).toBeGreaterThan(5);
    expect(stats.injected.rateLimited).toBeGreaterThan(0);
    expect(stats.injected.hangs).toBeGreaterThan(0);
    const client = new Redis(h.env.REDIS_URL!);
    const counters = await readCounters(client, h.prefix);
    client.disconnect();
    expect(counters.rate_limited).toBe(stats.injected.rateLimited);
    console.info(`[scenario 4] records=${n} 500s=${stats.injected.errors} 420s=${stats.injected.rateLimited} hangs=${stats.injected.hangs} retries=${counters.retried} failed=0 duplicates=0 time=${Date.now() - started}ms`);
  });

  it('6. SIGTERM lets in-flight jobs finish, then exits 0; nothing lost', async () => {
    h = await createHarness({ emulator: { faults: { latencyMs: 1_500 } } });
    const n = 20;
    await seed(n);
    expect((await h.run(['enqueue'])).code).toBe(0);
    const w = worker({}, 4);
    await waitFor('uploads in flight', async () => h.emulator.stats().uploadRequests >= 4);
    const inFlight = h.emulator.stats().uploadRequests;
    const t0 = Date.now();
    w.child.kill('SIGTERM');
    const exit = await w.exited;
    expect(exit.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    // The jobs that were uploading when the signal came finished, and none is stuck as active.
    expect((await ledgerCounts()).migrated).toBeGreaterThanOrEqual(inFlight);
    const connection = new Redis(h.env.REDIS_URL!, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_NAME, { connection, prefix: h.prefix });
    expect(await queue.getActiveCount()).toBe(0);
    await queue.close();
    connection.disconnect();
    const r = await h.run(['migrate']);
    expect(r.stdout.trim()).toBe(`✔ DONE | Migrated=${n} | Missing=0 | Skipped=0 | Failed=0`);
    await expectExactFinalState(n);
  });

  it('6b. SIGINT during migrate stops cleanly; running it again resumes', async () => {
    h = await createHarness({ emulator: { faults: { latencyMs: 400 } } });
    const n = 24;
    await seed(n);
    const ctl = new AbortController();
    const run = h.run(['migrate', '--concurrency', '2'], { signal: ctl.signal });
    await waitFor('some progress', async () => (await ledgerCounts()).migrated >= 2);
    ctl.abort();
    const first = await run;
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/Interrupted: batch 1 has \d+ records pending/);
    const second = await h.run(['migrate', '--concurrency', '4']);
    expect(second.stdout.trim()).toBe(`✔ DONE | Migrated=${n} | Missing=0 | Skipped=0 | Failed=0`);
    await expectExactFinalState(n);
  });
});
