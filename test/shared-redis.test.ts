import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { QUEUE_NAME } from '../src/pipeline/queue.ts';
import { ADMIN_DATABASE_URL, createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';
import { spawnCli, waitFor, type CliProcess } from './helpers/processes.ts';

/**
 * Two databases (staging and production, or two shops) on one Redis with the same QUEUE_PREFIX: a
 * process of one ledger must never take, fail or delay a job of the other.
 */

const made: Harness[] = [];
const procs: CliProcess[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const h of made.splice(0)) await h.close();
});

async function world(queuePrefix: string, env: Record<string, string> = {}): Promise<Harness> {
  const h = await createHarness({ queuePrefix, env });
  made.push(h);
  return h;
}

async function seed(h: Harness, n: number, salt: number) {
  for (let i = 1; i <= n; i++) await h.file(`p/${i}.png`, pngBytes(2 + (i % 5), 3, i + salt));
  const rows = Array.from({ length: n }, (_, i) => ({ image: `p/${i + 1}.png` }));
  for (let i = 0; i < rows.length; i += 200) await h.db('shop_productimages').insert(rows.slice(i, i + 200));
}

describe('two ledgers on one Redis and one QUEUE_PREFIX', () => {
  it("an idle worker of A beside B's migrate: B finishes promptly with every row right, A touches nothing of B", async () => {
    const prefix = `mmshared-${randomBytes(4).toString('hex')}`;
    const a = await world(prefix);
    const b = await world(prefix);
    await seed(a, 5, 1_000);
    const n = 300;
    await seed(b, n, 0);

    const idle = spawnCli(['worker', '--concurrency', '4'], { ...a.env, LOG_LEVEL: 'debug' });
    procs.push(idle);
    await waitFor('A\'s worker to start', async () => idle.output().includes('worker started'), 30_000);

    const started = Date.now();
    const r = await b.run(['migrate', '--concurrency', '8'], { signal: AbortSignal.timeout(50_000) });
    const took = Date.now() - started;
    expect(r.stdout.trim()).toBe(`✔ DONE | Migrated=${n} | Missing=0 | Skipped=0 | Failed=0`);
    expect(r.code).toBe(0);
    // Alone it takes 2-4 s on a quiet machine; beside the idle worker before each ledger had its own
    // space, 191 s (the measure). The bound leaves room for the whole suite on two cores; what
    // proves A delayed nothing is below: it never took one of B's jobs.
    expect(took).toBeLessThan(45_000);
    console.info(`[shared redis] B's migrate of ${n} beside an idle worker of A: ${took} ms`);

    const rows = await b.rows('shop_productimages');
    const records = await b.db('media_migrate_records').where({ batch_id: 1 });
    expect(records.filter((x) => x.outcome === 'migrated')).toHaveLength(n);
    for (const rec of records) {
      expect(rows.find((x) => String(x.id) === rec.pk)?.image).toBe(rec.new_value);
      expect(b.emulator.assets.get(rec.new_value)?.etag).toBe(rec.etag);
    }
    expect(Math.max(...Object.values(b.emulator.stats().createdByPublicId))).toBe(1);

    idle.child.kill('SIGTERM');
    expect((await idle.exited).code).toBe(0);
    // A's worker did nothing: A's ledger has no batch, A's rows are as they were, its log names no job of B.
    expect(await a.db('media_migrate_batches').count({ n: '*' })).toEqual([{ n: expect.anything() }]);
    expect(Number((await a.db('media_migrate_batches').count({ n: '*' }))[0]!.n)).toBe(0);
    expect((await a.rows('shop_productimages')).map((x) => x.image)).toEqual([1, 2, 3, 4, 5].map((i) => `p/${i}.png`));
    const out = idle.output();
    expect(out).not.toMatch(/not a source of batch/);
    // It never met one of B's jobs; had it, it would have said so once at most.
    expect(out.split('\n').filter((l) => l.includes('a job of another database')).length).toBeLessThanOrEqual(1);
    expect(out).not.toMatch(/"jobId"/);
    expect(a.emulator.stats().uploadRequests).toBe(0);
  }, 90_000);

  it("a job of B moved into A's queue by hand is left to B: not taken, failed or delayed, said once naming both databases", async () => {
    const prefix = `mmshared-${randomBytes(4).toString('hex')}`;
    // With a password in DATABASE_URL (PostgreSQL's trust login ignores it): it must appear nowhere.
    const a = await world(prefix, { DATABASE_URL: ADMIN_DATABASE_URL.replace('postgres://postgres@', 'postgres://postgres:s3cret-pw@') });
    const b = await world(prefix);
    await seed(b, 3, 0);
    expect((await b.run(['enqueue'])).code).toBe(0);
    const connection = a.redis();
    const qa = new Queue(QUEUE_NAME, { connection, prefix: a.prefix });
    const qb = new Queue(QUEUE_NAME, { connection, prefix: b.prefix });
    try {
      // B's jobs live in B's space; A's queue is empty until a job of B is put there by hand.
      expect(await qa.count()).toBe(0);
      const [theirs] = await qb.getWaiting(0, 0);
      expect(theirs!.data).toMatchObject({ l: b.ledgerId, b: 1 });
      await qa.add(theirs!.name, theirs!.data, { jobId: theirs!.id! });

      const stop = new AbortController();
      const w = a.run(['worker', '--concurrency', '2'], { signal: stop.signal });
      const said = await waitFor('A to say it left the job', async () => a.logs.records().find((l) => String(l.msg).includes('a job of another database')), 20_000);
      await new Promise((r) => setTimeout(r, 2_500));
      stop.abort();
      expect((await w).code).toBe(0);

      expect(said.msg).toBe(
        `a job of another database (postgres 127.0.0.1:5432/test schema ${b.schema}, ledger ${b.ledgerId}) reached this ledger's queue (postgres 127.0.0.1:5432/test schema ${a.schema}, ledger ${a.ledgerId}); ` +
          `it is left untouched for that database's own workers (both share QUEUE_PREFIX=${prefix} on this Redis, and the job was moved into this ledger's keys by hand)`,
      );
      expect(a.logs.records().filter((l) => String(l.msg).includes('a job of another database'))).toHaveLength(1);
      expect(a.logs.lines.join('\n')).not.toContain('s3cret-pw');
      // Back in the queue, undelayed, its attempts untouched; B's record still pending; A's ledger empty.
      const job = (await qa.getJob(theirs!.id!))!;
      expect(await job.getState()).toBe('waiting');
      expect(job.attemptsMade).toBe(0);
      expect(await qb.getJobCountByTypes('waiting')).toBe(3);
      expect((await b.ledger.counts.total(1)).pending).toBe(3);
      expect(Number((await a.db('media_migrate_batches').count({ n: '*' }))[0]!.n)).toBe(0);
    } finally {
      await qa.close();
      await qb.close();
    }
  });

  it('a copy of a ledger (a dump restored elsewhere) takes an id of its own at its first open, and says so', async () => {
    const prefix = `mmshared-${randomBytes(4).toString('hex')}`;
    const h = await world(prefix);
    // What a restored dump looks like from inside: the ledger was noted in another database.
    await h.db('media_migrate_ledger').update({ home: 'pg:another-cluster:shop:public' });
    const r = await h.run(['status', '--json']);
    expect(r.code).toBe(2); // no batch yet; what matters is the identity
    const [row] = await h.db('media_migrate_ledger');
    expect(row.id).not.toBe(h.ledgerId);
    const warned = h.logs.records().filter((l) => String(l.msg).includes('is a copy of another database'));
    expect(warned).toHaveLength(1);
    expect(warned[0]!.msg).toBe(
      `the ledger in postgres 127.0.0.1:5432/test schema ${h.schema} is a copy of another database's (ledger ${h.ledgerId}); it now has an id of its own, ${row.id}, so its work in Redis stays apart from the original's`,
    );
    // The next open keeps the new id.
    await h.run(['status', '--json']);
    expect((await h.db('media_migrate_ledger'))[0].id).toBe(row.id);
  });
});
