import { afterEach, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { runBatch, type RunBatchResult } from '../src/pipeline/run-batch.ts';
import { defaultSources } from '../src/config/sources.ts';
import { checkSources } from '../src/db/check-sources.ts';
import { createCloudinaryUploader } from '../src/cloudinary/uploader.ts';
import { createQueue, redisConnection } from '../src/pipeline/queue.ts';
import { openBatch } from '../src/pipeline/producer.ts';
import { recordAll } from '../src/pipeline/record-batch.ts';
import { batchStatus, stateText } from '../src/ledger/batch-status.ts';
import { createProgress } from '../src/cli/progress.ts';
import { silentLogger } from '../src/logger.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';
import { spawnCli, waitFor, type CliProcess } from './helpers/processes.ts';

/**
 * Issue 19: a batch's workers start on its first records while the rest is still being recorded;
 * the batch never ends before it is fully recorded, and a run killed mid-recording carries on.
 */

let h: Harness;
const procs: CliProcess[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await h?.close();
});

async function seedFiles(n: number, from = 1) {
  for (let i = from; i < from + n; i++) await h.file(`p/${i}.png`, pngBytes(3, 2, i));
}
async function insertRows(values: string[]) {
  for (let i = 0; i < values.length; i += 500) await h.db('shop_productimages').insert(values.slice(i, i + 500).map((image) => ({ image })));
}

describe('streaming start (issue 19)', () => {
  it('workers migrate the first records while the batch is still being recorded; the run does not end until it is fully recorded', async () => {
    h = await createHarness({ emulator: { faults: { latencyMs: 2 } } });
    const n = 1_050;
    await seedFiles(n);
    await insertRows(Array.from({ length: n }, (_, i) => `p/${i + 1}.png`));
    // Recording stops after its first page (1,000 records) until the test lets it go on.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const realAdd = h.ledger.records.addPending.bind(h.ledger.records);
    let calls = 0;
    h.ledger.records.addPending = async (...args) => {
      if (++calls > 1) await held;
      return realAdd(...args);
    };
    const config = h.config();
    const uploader = createCloudinaryUploader(config.cloudinary, config.upload);
    const connection = redisConnection(config.redis);
    const queue = createQueue(config.redis, connection, config.upload);
    const sources = await checkSources(h.db, defaultSources('shop'));
    let done: RunBatchResult | undefined;
    const recordingSeen: boolean[] = [];
    const run = runBatch(
      { db: h.db, ledger: h.ledger, queue, connection, uploader, logger: h.logs.logger, redis: config.redis, upload: config.upload, mediaRoot: config.mediaRoot, cloudName: config.cloudinary.cloudName },
      { kind: 'migrate', sources, store: 'public_id', dryRun: false, prefix: 'media/', tag: 'media' },
      { concurrency: 16, pollMs: 100, onProgress: (_c, _b, _w, recording) => recordingSeen.push(Boolean(recording)) },
    ).then((r) => (done = r));
    try {
      // Every record of the first page ends while the batch is still being recorded.
      await waitFor('the first page migrated', async () => (await h.ledger.counts.total(1)).migrated >= 1_000, 60_000, 50);
      const batch = (await h.ledger.batches.get(1))!;
      expect(batch.enqueuedAt).toBeUndefined();
      expect(await h.ledger.pending.has(1)).toBe(false);
      // Nothing pending, but not fully recorded: the run goes on, and status says the batch is being recorded.
      await new Promise((r) => setTimeout(r, 500));
      expect(done).toBeUndefined();
      const status = await batchStatus(h.ledger, batch);
      expect(status.state).toBe('enqueuing');
      expect(stateText(status)).toBe('recording: 1,000 records so far');
      // A re-run would resume it rather than start another.
      expect((await h.ledger.batches.findResumable({ kind: 'migrate', sources, store: 'public_id', dryRun: false, prefix: 'media/', tag: 'media', scope: {} }))?.id).toBe(1);
      expect(recordingSeen).toContain(true);
    } finally {
      release();
    }
    const result = await run;
    expect(result.counts).toMatchObject({ total: n, migrated: n, pending: 0 });
    expect(result.batch.enqueuedAt).toBeInstanceOf(Date);
    expect(recordingSeen.at(-1)).toBe(false);
    expect(Math.max(...Object.values(h.emulator.stats().createdByPublicId))).toBe(1);
    await queue.close();
    connection.disconnect();
    uploader.close();
  }, 120_000);

  it('after a stage batch, the rows it did not place are all recorded before the rest: the window never passes one recorded later', async () => {
    h = await createHarness({ emulator: { faults: { latencyMs: 2 } } });
    const n = 24;
    await seedFiles(n);
    await insertRows(Array.from({ length: n }, (_, i) => `p/${i + 1}.png`));
    expect((await h.run(['stage'])).code).toBe(0);
    // Every third row changes after the stage: not in place, so it is rewritten first.
    await seedFiles(n, 1_001);
    const changed = Array.from({ length: n / 3 }, (_, i) => 3 * i + 3);
    for (const id of changed) await h.db('shop_productimages').where({ id }).update({ image: `p/${1_000 + id}.png` });
    const sources = await checkSources(h.db, defaultSources('shop'));
    const { batch } = await openBatch(h.ledger, { kind: 'migrate', sources, store: 'public_id', dryRun: false, prefix: 'media/', tag: 'media', scope: {} });
    expect(batch.stageBatchId).toBe(1);
    await recordAll({ db: h.db, ledger: h.ledger, logger: silentLogger }, batch, { pageSize: 5 });
    const records = await h.db('media_migrate_records').where({ batch_id: batch.id }).orderBy('id');
    const first = records.filter((r) => r.priority === 0);
    const last = records.filter((r) => r.priority === 1);
    expect(first.map((r) => Number(r.pk)).sort((a, b) => a - b)).toEqual(changed);
    expect(last).toHaveLength(n - changed.length);
    // Queue order (priority, id) is recording order: the cursor never passes a record recorded later.
    expect(Math.max(...first.map((r) => Number(r.id)))).toBeLessThan(Math.min(...last.map((r) => Number(r.id))));
    expect(new Set(records.map((r) => r.pk)).size).toBe(n);
  }, 120_000);

  it('migrate SIGKILLed mid-recording and run again: recording carries on, every record ends exactly once, nothing uploaded twice', async () => {
    h = await createHarness({ emulator: { faults: { latencyMs: 5 } } });
    // Real files first (the workers are at them while recording goes on), then many empty values.
    const files = 300;
    const n = 6_000;
    await seedFiles(files);
    await insertRows([...Array.from({ length: files }, (_, i) => `p/${i + 1}.png`), ...Array.from({ length: n - files }, () => '')]);
    const first = spawnCli(['migrate', '--concurrency', '8'], h.env);
    procs.push(first);
    await waitFor('recording under way', async () => Number((await h.db('media_migrate_records').count({ c: '*' }).first())?.c ?? 0) > 0, 60_000, 5);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    const recordedAtKill = Number((await h.db('media_migrate_records').count({ c: '*' }).first())?.c ?? 0);
    expect((await h.ledger.batches.get(1))?.enqueuedAt).toBeUndefined();
    expect(recordedAtKill).toBeLessThan(n);

    const again = await h.run(['migrate', '--concurrency', '8'], { signal: AbortSignal.timeout(150_000) });
    expect(again.stdout.trim()).toBe(`✔ DONE | Migrated=${files} | Missing=0 | Skipped=${n - files} | Failed=0`);
    expect((await h.ledger.batches.list()).map((b) => b.id)).toEqual([1]);
    const records = await h.db('media_migrate_records').where({ batch_id: 1 }).select('pk', 'outcome', 'new_value');
    expect(records).toHaveLength(n);
    expect(new Set(records.map((r) => r.pk)).size).toBe(n);
    expect(records.filter((r) => r.outcome === 'pending')).toEqual([]);
    const rows = await h.db('shop_productimages').whereNot('image', '');
    expect(rows).toHaveLength(files);
    const stats = h.emulator.stats();
    expect(Math.max(...Object.values(stats.createdByPublicId))).toBe(1);
    expect(h.emulator.assets.size).toBe(files);
    expect(new Set(rows.map((r) => r.image))).toEqual(new Set(h.emulator.assets.keys()));
    console.info(`[streaming] SIGKILL with ${recordedAtKill} of ${n} records recorded; re-run finished the batch`);
  }, 240_000);

  it('the progress line says the batch is still being recorded and how far, with no percentage', () => {
    const lines: string[] = [];
    const logger = { info: (_o: unknown, msg: string) => lines.push(msg) } as unknown as Parameters<typeof createProgress>[0]['logger'];
    const p = createProgress({ isTTY: false, stream: new Writable({ write: (_c, _e, cb) => cb() }), logger, everyMs: 0 });
    const counts = { total: 120_000, pending: 116_900, migrated: 3_100, missing: 0, skipped: 0, failed: 0, notInPlace: 0, staged: 0 };
    p.update(counts, undefined, true);
    p.update({ ...counts, total: 130_000, pending: 0, migrated: 130_000 }, undefined, false);
    expect(lines[0]).toBe('recording: 120,000 records so far · 3,100 done');
    expect(lines[1]).toBe('progress 130000/130000 (100%)');
  });
});
