import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBatch, enqueueRecords } from '../src/pipeline/producer.ts';
import { createQueue, redisConnection, type RecordQueue } from '../src/pipeline/queue.ts';
import { jobsInWindow, refillWindow, resetWindow, type WindowDeps } from '../src/pipeline/queue-window.ts';
import { defaultSources } from '../src/config/sources.ts';
import { checkSources } from '../src/db/check-sources.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';
import { startPrivateRedis } from './helpers/processes.ts';

/**
 * Redis holds a window of the batch, never the library: the ledger has every record, and whoever
 * works the batch refills the window from it.
 */

let h: Harness;
let connection: Redis;
let queue: RecordQueue;

beforeEach(async () => {
  h = await createHarness({ emulator: { faults: { latencyMs: 15 } } });
  const cfg = h.config();
  connection = redisConnection(cfg.redis);
  queue = createQueue(cfg.redis, connection, cfg.upload);
});
afterEach(async () => {
  await queue.close();
  connection.disconnect();
  await h.close();
});

async function seed(n: number) {
  for (let i = 1; i <= n; i++) await h.file(`p/${i}.png`, pngBytes(2 + (i % 5), 3, i));
  const rows = Array.from({ length: n }, (_, i) => ({ image: `p/${i + 1}.png` }));
  for (let i = 0; i < rows.length; i += 500) await h.db('shop_productimages').insert(rows.slice(i, i + 500));
}

const window = (size: number): WindowDeps => ({ ledger: h.ledger, queue, redis: connection, prefix: h.prefix, size, inFlightMs: 30_000, logger: h.logs.logger });

describe('the queue window', () => {
  it('never holds more than the window (+ what is in flight) while a batch runs, and the ledger has the whole batch at once', async () => {
    await seed(150);
    let max = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        max = Math.max(max, await jobsInWindow(queue));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const run = h.run(['migrate', '--concurrency', '4', '--json'], { env: { QUEUE_WINDOW: '20' } });
    // Once recorded, status shows the full total, whatever Redis holds.
    for (;;) {
      const s = JSON.parse((await h.run(['status', '--json'])).stdout || '{}');
      if (s.state === 'running' || s.state === 'finished') {
        expect(s.total).toBe(150);
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const r = await run;
    sampling = false;
    await sampler;
    expect(JSON.parse(r.stdout)).toMatchObject({ migrated: 150, failed: 0, pending: 0 });
    expect(max).toBeGreaterThan(0);
    expect(max).toBeLessThanOrEqual(20 + 4);
    expect(h.emulator.stats().uploadRequests).toBe(150);
  });

  it('two refillers at once never hand over the same page; a page handed over twice is a no-op', async () => {
    await seed(120);
    const sources = await checkSources(h.db, defaultSources('shop'));
    const { batch } = await openBatch(h.ledger, { kind: 'migrate', sources, store: 'public_id', dryRun: false, prefix: 'media/', tag: 'media' });
    let added = 0;
    // The same queue, counting what is handed to it.
    const counting = Object.assign(Object.create(queue) as RecordQueue, {
      addBulk: async (jobs: Parameters<RecordQueue['addBulk']>[0]) => ((added += jobs.length), queue.addBulk(jobs)),
    });
    const deps = { db: h.db, ledger: h.ledger, queue: counting, redis: connection, logger: h.logs.logger, window: { size: 50, inFlightMs: 30_000 } };
    expect(await enqueueRecords(deps, batch, false)).toBe(50);
    const current = (await h.ledger.batches.get(batch.id))!;
    // Room for 30 more: two refillers race for it.
    const drained = (await queue.getWaiting(0, 29)).map((j) => j.remove());
    await Promise.all(drained);
    added = 0;
    const results = await Promise.all([refillWindow({ ...window(50), queue: counting }, current), refillWindow({ ...window(50), queue: counting }, current)]);
    expect(results.map((x) => x.locked).sort()).toEqual([false, true]);
    expect(added).toBe(30);
    expect(await jobsInWindow(queue)).toBe(50);
    // The same records handed over again (a lock that expired mid-refill, say): Redis adds nothing.
    const ids = new Set((await queue.getWaiting(0, -1)).map((j) => j.id));
    await resetWindow(window(50), batch.id);
    await refillWindow(window(50), current);
    expect(await jobsInWindow(queue)).toBe(50);
    expect(new Set((await queue.getWaiting(0, -1)).map((j) => j.id))).toEqual(ids);
  });


  it('into an empty window, a small first page goes ahead of the rest, and no add is larger than a chunk', async () => {
    await seed(400);
    const sources = await checkSources(h.db, defaultSources('shop'));
    const { batch } = await openBatch(h.ledger, { kind: 'migrate', sources, store: 'public_id', dryRun: false, prefix: 'media/', tag: 'media' });
    const adds: number[] = [];
    const counting = Object.assign(Object.create(queue) as RecordQueue, {
      addBulk: async (jobs: Parameters<RecordQueue['addBulk']>[0]) => (adds.push(jobs.length), queue.addBulk(jobs)),
    });
    const deps = { db: h.db, ledger: h.ledger, queue: counting, redis: connection, logger: h.logs.logger, window: { size: 1000, inFlightMs: 30_000 } };
    // The first page is what the workers wait on: it is in Redis before the rest is read.
    expect(await enqueueRecords(deps, batch, false)).toBe(400);
    expect(adds[0]).toBeLessThanOrEqual(64);
    expect(Math.max(...adds)).toBeLessThanOrEqual(128);
    expect(adds.reduce((a, b) => a + b, 0)).toBe(400);
    // Every record handed over once, in queue order, each as its own job.
    const waiting = await queue.getWaiting(0, -1);
    expect(new Set(waiting.map((j) => j.data.pk)).size).toBe(400);
    // A refill into a window that holds jobs reads whole pages again (still added in chunks).
    adds.length = 0;
    const more = await h.ledger.batches.get(batch.id);
    await h.ledger.records.addPending(batch.id, sources[0]!, Array.from({ length: 300 }, (_, i) => String(401 + i)));
    await refillWindow({ ...window(1000), queue: counting }, more!);
    expect(adds).toEqual([128, 128, 44]);
  });
  it("ignores a cursor another ledger's batch of the same id left in Redis: the first window starts at the first record", async () => {
    await seed(30);
    const sources = await checkSources(h.db, defaultSources('shop'));
    const { batch } = await openBatch(h.ledger, { kind: 'migrate', sources, store: 'public_id', dryRun: false, prefix: 'media/', tag: 'media' });
    // What a batch 1 of an earlier ledger (same Redis, same QUEUE_PREFIX) left: a cursor past record 20.
    const stale = { priority: 0, id: 20, created: batch.createdAt.getTime() - 60_000 };
    await connection.set(`${h.prefix}:media-migrate:window:${batch.id}`, JSON.stringify(stale));
    const deps = { db: h.db, ledger: h.ledger, queue, redis: connection, logger: h.logs.logger, window: { size: 100, inFlightMs: 30_000 } };
    expect(await enqueueRecords(deps, batch, false)).toBe(30);
    expect(await jobsInWindow(queue)).toBe(30);
  });

  it('warns in one line, naming the setting, when Redis may evict keys', async () => {
    const redis = await startPrivateRedis();
    try {
      const evicting = new Redis(redis.url);
      await evicting.config('SET', 'maxmemory-policy', 'allkeys-lru');
      evicting.disconnect();
      await seed(2);
      const before = h.logs.lines.length;
      expect((await h.run(['enqueue'], { env: { REDIS_URL: redis.url } })).code).toBe(0);
      const warnings = h.logs.records().slice(before).filter((l) => l.setting === 'maxmemory-policy');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.msg).toBe(
        `REDIS_URL: Redis's maxmemory-policy is "allkeys-lru"; BullMQ needs "noeviction" (set maxmemory-policy noeviction), or Redis may drop queued jobs when memory runs short`,
      );
      // The default policy says nothing.
      const quiet = h.logs.lines.length;
      await h.run(['enqueue']);
      expect(h.logs.records().slice(quiet).some((l) => l.setting === 'maxmemory-policy')).toBe(false);
    } finally {
      await redis.stop();
    }
  });
});
