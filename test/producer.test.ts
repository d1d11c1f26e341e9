import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Batch } from '../src/ledger/ledger.ts';
import { silentLogger } from '../src/logger.ts';
import { Outcome } from '../src/outcomes.ts';
import { enqueueRecords, openBatch, type EnqueueDeps } from '../src/pipeline/producer.ts';
import { createQueue, jobIdFor, redisConnection, type RecordQueue } from '../src/pipeline/queue.ts';
import { checkSources } from '../src/db/check-sources.ts';
import { createHarness, type Harness } from './helpers/harness.ts';

/**
 * The producer reads pages ahead and keeps several `addBulk` calls in flight: whatever the paging,
 * every record must reach the ledger and Redis exactly once, resuming must re-send only what is
 * pending, and a failed call must stop the scan without leaving the batch marked complete.
 */

// Text primary keys that an array literal or an IN list could get wrong.
const CODES = ['a,b', 'x"y', 'back\\slash', '{brace}', 'NULL', 'with space', 'ünï', "it's", ...Array.from({ length: 40 }, (_, i) => `c${String(i).padStart(3, '0')}`)];

let h: Harness;
let connection: Redis;
let queue: RecordQueue;
let deps: EnqueueDeps;

beforeEach(async () => {
  h = await createHarness({ shopTables: false });
  await h.db.schema.createTable('odd_codes', (t) => {
    t.string('code', 50).primary();
    t.string('image', 100).notNullable().defaultTo('');
  });
  await h.db('odd_codes').insert(CODES.map((code) => ({ code, image: `p/${code.length}.png` })));
  const cfg = h.config();
  connection = redisConnection(cfg.redis);
  queue = createQueue(cfg.redis, connection, cfg.upload);
  deps = { db: h.db, ledger: h.ledger, queue, redis: connection, logger: silentLogger };
});

afterEach(async () => {
  await queue.close();
  connection.disconnect();
  await h.close();
});

async function newBatch(): Promise<Batch> {
  const sources = await checkSources(h.db, [{ table: 'odd_codes', column: 'image', pk: 'code' }]);
  return (await openBatch(h.ledger, { kind: 'migrate', sources, store: 'public_id', dryRun: false, prefix: 'media/', tag: 'media' })).batch;
}

/** What a FLUSHDB does to this test's world: every key under its prefix goes, the window's cursor too. */
async function loseRedis() {
  const keys = await connection.keys(`${h.prefix}:*`);
  if (keys.length) await connection.del(...keys);
}

const ref = (batch: Batch, pk: string) => ({ batchId: batch.id, table: 'odd_codes', column: 'image', pk });
/** Jobs Redis holds for records: waiting, or delayed (handed over again after Redis lost the window). */
const waitingIds = async () => (await queue.getJobs(['wait', 'delayed'], 0, -1)).map((j) => j.id).sort();
const ledgerPks = async (batch: Batch) =>
  (await h.db('media_migrate_records').where({ batch_id: batch.id }).select('pk')).map((r: { pk: string }) => r.pk).sort();

describe('enqueueRecords', () => {
  it('records and enqueues every row exactly once across many pages, awkward keys included', async () => {
    const batch = await newBatch();
    expect(await enqueueRecords(deps, batch, false, 7)).toBe(CODES.length);
    expect(await ledgerPks(batch)).toEqual([...CODES].sort());
    expect(await waitingIds()).toEqual(CODES.map((c) => jobIdFor(ref(batch, c))).sort());
    const jobs = await queue.getWaiting(0, -1);
    expect(new Set(jobs.map((j) => j.data.pk))).toEqual(new Set(CODES));
    expect((await h.ledger.batches.get(batch.id))?.enqueuedAt).toBeInstanceOf(Date);
  });

  it('re-sends only the pending records when Redis lost them, whether the scan had completed or not', async () => {
    const batch = await newBatch();
    await enqueueRecords(deps, batch, false, 5);
    const done = CODES.slice(0, 10);
    await h.db('media_migrate_records').where({ batch_id: batch.id }).whereIn('pk', done).update({ outcome: Outcome.migrated });
    const pendingIds = CODES.slice(10)
      .map((c) => jobIdFor(ref(batch, c)))
      .sort();

    // Redis lost everything; the scan had not completed: the table is read again.
    await loseRedis();
    expect(await enqueueRecords(deps, { ...batch, enqueuedAt: undefined }, true, 5)).toBe(CODES.length - 10);
    expect(await waitingIds()).toEqual(pendingIds);
    expect(await ledgerPks(batch)).toEqual([...CODES].sort());

    // Redis lost everything again; the scan had completed: the ledger's pending records are read.
    await loseRedis();
    const enqueued = (await h.ledger.batches.get(batch.id))!;
    expect(enqueued.enqueuedAt).toBeInstanceOf(Date);
    expect(await enqueueRecords(deps, enqueued, true, 4)).toBe(CODES.length - 10);
    expect(await waitingIds()).toEqual(pendingIds);
    // Nothing lost: a third call finds the window holding them all and hands over nothing.
    expect(await enqueueRecords(deps, enqueued, true, 4)).toBe(0);
  });

  it('a failed addBulk stops neither the recording nor leaves a job in Redis; the window stays where it was', async () => {
    const batch = await newBatch();
    const realAddBulk = queue.addBulk.bind(queue);
    queue.addBulk = async () => {
      throw new Error('Redis went away');
    };
    await expect(enqueueRecords(deps, batch, false, 5)).rejects.toThrow('Redis went away');
    // The ledger is complete (status shows the whole total at once); Redis has nothing.
    expect(await ledgerPks(batch)).toEqual([...CODES].sort());
    expect((await h.ledger.batches.get(batch.id))?.enqueuedAt).toBeInstanceOf(Date);
    expect(await waitingIds()).toEqual([]);

    queue.addBulk = realAddBulk;
    expect(await enqueueRecords(deps, (await h.ledger.batches.get(batch.id))!, true, 5)).toBe(CODES.length);
    expect(await waitingIds()).toEqual(CODES.map((c) => jobIdFor(ref(batch, c))).sort());
  });
});
