import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBatch } from '../src/pipeline/run-batch.ts';
import { defaultSources } from '../src/config/sources.ts';
import { checkSources } from '../src/db/check-sources.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { largePngBytes, pngBytes } from './helpers/images.ts';

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

async function seed(n: number) {
  for (let i = 1; i <= n; i++) await h.file(`p/${i}.png`, pngBytes(3, 2, i));
  await h.db('shop_productimages').insert(Array.from({ length: n }, (_, i) => ({ image: `p/${i + 1}.png` })));
}

describe('migrate --dry-run', () => {
  it('classifies every record and uploads and writes nothing', async () => {
    await seed(4);
    await h.file('p/bad.jpg', 'text');
    await h.db('shop_productimages').insert([{ image: 'p/bad.jpg' }, { image: 'p/none.png' }, { image: '' }]);
    const before = await h.db('shop_productimages').orderBy('id');
    const r = await h.run(['migrate', '--dry-run']);
    expect(r.stdout.trim()).toBe('✖ DONE | Migrated=4 | Missing=1 | Skipped=1 | Failed=1 (dry run: nothing uploaded or written)');
    expect(await h.db('shop_productimages').orderBy('id')).toEqual(before);
    expect(h.emulator.stats().uploadRequests).toBe(0);
    const reasons = await h.db('media_migrate_records').where({ outcome: 'migrated' }).distinct('reason');
    expect(reasons).toEqual([{ reason: 'would_migrate' }]);
    // A dry run does not count as "already migrated" for the real one.
    const real = await h.run(['migrate']);
    expect(real.stdout.trim()).toBe('✖ DONE | Migrated=4 | Missing=1 | Skipped=1 | Failed=1');
  });
});

describe('migrate --store url', () => {
  it('writes the secure_url, which serves the same bytes', async () => {
    await seed(1);
    const r = await h.run(['migrate', '--store', 'url']);
    expect(r.code).toBe(0);
    const row = await h.db('shop_productimages').first();
    expect(row.image).toMatch(new RegExp(`^${h.emulator.url}/demo/image/upload/v\\d+/media/p/1_[0-9a-z]{6}\\.png$`));
    const res = await fetch(row.image);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(pngBytes(3, 2, 1));
  });
});

describe('status', () => {
  it('--json prints one object with the figures of the latest batch', async () => {
    await seed(3);
    await h.db('shop_bannerimage').insert({ image: 'b/none.png' });
    await h.run(['migrate']);
    const r = await h.run(['status', '--json']);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ batch: 1, total: 4, migrated: 3, missing: 1, skipped: 0, failed: 0, pending: 0, state: 'finished' });
    expect(s.sources).toEqual(
      expect.arrayContaining([expect.objectContaining({ table: 'shop_bannerimage', column: 'image', total: 1, missing: 1 })]),
    );
    const text = await h.run(['status', '--batch', '1']);
    expect(text.stdout).toContain('Batch 1 · finished');
    expect(text.stdout).toContain('shop_bannerimage.image[pk=1]  not_found');
  });

  it('names a batch that does not exist', async () => {
    const r = await h.run(['status', '--batch', '9']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('media-migrate: --batch 9: no such batch');
  });
});

describe('retry-failed', () => {
  it('re-queues exactly the failed records, and they then succeed', async () => {
    await seed(5);
    h.emulator.setFaults({ errorRate: 1 });
    // Records 1-2 fail for good (attempts run out); the rest are fine once the emulator recovers.
    const stopAfter = await h.run(['migrate'], { env: { JOB_ATTEMPTS: '1' } });
    expect(stopAfter.stdout.trim()).toBe('✖ DONE | Migrated=0 | Missing=0 | Skipped=0 | Failed=5');
    h.emulator.setFaults({ errorRate: 0 });
    await h.db('media_migrate_records').whereIn('pk', ['3', '4', '5']).update({ outcome: 'missing', reason: 'not_found' });

    const r = await h.run(['retry-failed', '--json']);
    expect(JSON.parse(r.stdout)).toEqual({ batch: 1, requeued: 2, byOutcome: { failed: 2 }, byReason: { retries_exhausted: 2 } });
    const again = await h.run(['migrate', '--batch', '1']);
    expect(again.code).toBe(0);
    const s = JSON.parse((await h.run(['status', '--json'])).stdout);
    expect(s).toMatchObject({ migrated: 2, missing: 3, failed: 0, pending: 0 });
    expect(h.emulator.stats().created).toBe(2);
  });
});

describe('retry-failed by reason and by outcome', () => {
  it('re-queues exactly the records of one reason, or the missing ones once their files are back', async () => {
    await seed(3);
    await h.file('p/big.png', largePngBytes(40_000, 7));
    await h.db('shop_productimages').insert([{ image: 'p/big.png' }, { image: 'p/gone-1.png' }, { image: 'p/gone-2.png' }]);
    h.emulator.setFaults({ errorRate: 1 });
    const first = await h.run(['migrate', '--json'], { env: { JOB_ATTEMPTS: '1', MAX_FILE_BYTES: '20000' } });
    expect(JSON.parse(first.stdout)).toMatchObject({ failed: 4, missing: 2 });
    h.emulator.setFaults({ errorRate: 0 });

    const bad = await h.run(['retry-failed', '--reason', 'timeouts']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('media-migrate: --reason timeouts: no such reason');
    expect((await h.run(['retry-failed', '--outcome', 'skipped'])).stderr.trim()).toBe('media-migrate: --outcome skipped: expected failed or missing');

    const r = await h.run(['retry-failed', '--reason', 'retries_exhausted', '--json']);
    expect(JSON.parse(r.stdout)).toEqual({ batch: 1, requeued: 3, byOutcome: { failed: 3 }, byReason: { retries_exhausted: 3 } });
    expect((await h.run(['migrate', '--batch', '1', '--json'])).code).toBe(1);
    expect(JSON.parse((await h.run(['status', '--json'])).stdout)).toMatchObject({ migrated: 3, failed: 1, missing: 2 });
    // The too-large file kept its outcome: only the reason asked for ran again.
    expect((await h.db('media_migrate_records').where({ batch_id: 1, outcome: 'failed' })).map((x) => x.reason)).toEqual(['too_large']);
    // --reason is repeatable: the records of every reason named (none ended cloudinary_rejected).
    const both = await h.run(['retry-failed', '--reason', 'too_large', '--reason', 'cloudinary_rejected', '--json']);
    expect(JSON.parse(both.stdout)).toEqual({ batch: 1, requeued: 1, byOutcome: { failed: 1 }, byReason: { too_large: 1 } });
    await h.run(['migrate', '--batch', '1'], { env: { MAX_FILE_BYTES: '20000' } });

    // The files come back: the missing records run again and migrate.
    await h.file('p/gone-1.png', pngBytes(5, 5, 91));
    await h.file('p/gone-2.png', pngBytes(5, 5, 92));
    const m = await h.run(['retry-failed', '--outcome', 'missing', '--json']);
    expect(JSON.parse(m.stdout)).toEqual({ batch: 1, requeued: 2, byOutcome: { missing: 2 }, byReason: { not_found: 2 } });
    await h.run(['migrate', '--batch', '1'], { env: { MAX_FILE_BYTES: '20000' } });
    expect(JSON.parse((await h.run(['status', '--json'])).stdout)).toMatchObject({ migrated: 5, failed: 1, missing: 0, pending: 0 });
  });
});

describe('refused credentials mid-batch', () => {
  it('halt the batch within a few requests, with one message naming CLOUDINARY_URL', async () => {
    await seed(40);
    const pipeline = h.pipeline({ apiSecret: 'revoked' });
    const sources = await checkSources(h.db, defaultSources('shop'));
    const result = await runBatch(pipeline.deps, { kind: 'migrate', sources, store: 'public_id', dryRun: false, prefix: 'media/', tag: 'media' }, { concurrency: 4 });
    expect(result.halted).toMatch(/^CLOUDINARY_URL: Cloudinary refused the API key or secret \(401/);
    expect(h.emulator.stats().uploadRequests).toBeLessThanOrEqual(4);
    expect(result.counts).toMatchObject({ failed: 0, pending: 40 });
    expect(await pipeline.deps.queue.isPaused()).toBe(true);
    expect((await h.ledger.batches.get(result.batch.id))?.haltedReason).toBe(result.halted);
    await pipeline.close();

    // With the right credentials, running again resumes the same batch and finishes it.
    const again = await h.run(['migrate']);
    expect(again.stdout.trim()).toBe('✔ DONE | Migrated=40 | Missing=0 | Skipped=0 | Failed=0');
    expect(JSON.parse((await h.run(['status', '--json'])).stdout)).toMatchObject({ batch: 1, state: 'finished' });
  });
});

describe('report', () => {
  it('exports every record with its outcome and reason, as CSV or JSON', async () => {
    await seed(2);
    await h.file('=cmd.jpg', 'not an image, and a name a spreadsheet would run');
    await h.db('shop_productimages').insert([{ image: '=cmd.jpg' }, { image: '' }]);
    await h.run(['migrate']);

    const csv = await h.run(['report', '--batch', '1', '--format', 'csv']);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trim().split('\r\n');
    expect(lines[0]).toBe('batch,table,column,pk,outcome,reason,detail,old_value,new_value,public_id,etag,bytes,attempts,finished_at,rolled_back_at,references');
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(/^1,shop_productimages,image,1,migrated,uploaded,,p\/1\.png,media\/p\/1_[0-9a-z]{6},media\/p\/1_[0-9a-z]{6},[0-9a-f]{32},\d+,1,\d{4}-.*,$/);
    // A value a spreadsheet would run as a formula is defused; quotes are escaped.
    expect(lines[3]).toContain(`,failed,not_an_image,"""=cmd.jpg"" is not an image (unrecognised content)",'=cmd.jpg,`);

    const json = await h.run(['report', '--format', 'json']);
    const rows = JSON.parse(json.stdout);
    expect(rows).toHaveLength(4);
    expect(rows.map((r: { outcome: string; reason: string }) => `${r.outcome}/${r.reason}`)).toEqual([
      'migrated/uploaded',
      'migrated/uploaded',
      'failed/not_an_image',
      'skipped/empty',
    ]);
    expect((await h.run(['report', '--format', 'xml'])).code).toBe(2);
  });
});

describe('resuming a batch by its id', () => {
  /** A Django app of its own models only: the default shop tables do not exist here. */
  async function customApp() {
    for (const t of ['shop_productimages', 'shop_bannerimage', 'shop_subcategory']) await h.db.schema.dropTable(t);
    await h.db.schema.createTable('blog_post', (t) => {
      t.bigIncrements('id');
      t.string('cover', 100).notNullable();
    });
    for (let i = 1; i <= 3; i++) await h.file(`covers/${i}.png`, pngBytes(3, 3, i));
    await h.file('covers/broken.png', 'a text file saved as .png');
    await h.db('blog_post').insert([1, 2, 3].map((i) => ({ cover: `covers/${i}.png` })).concat({ cover: 'covers/broken.png' }));
    return h.file('sources.json', JSON.stringify({ sources: [{ table: 'blog_post', column: 'cover' }] }));
  }

  it('migrate --batch N runs the batch with the sources, scope and settings it recorded; the hint after failures is that command', async () => {
    const sources = await customApp();
    const first = await h.run(['migrate', '--sources', sources]);
    expect(first.code).toBe(1);
    expect(first.stdout.trim()).toBe('✖ DONE | Migrated=3 | Missing=0 | Skipped=0 | Failed=1');
    const hint = 'See the failures: media-migrate status --batch 1; re-run them: media-migrate retry-failed --batch 1 && media-migrate migrate --batch 1';
    expect(first.stderr).toContain(hint);

    // The row is fixed (the broken file is one of the batch's MEDIA_ROOT fingerprint: left as it is);
    // the hint, run as printed, migrates it (no --sources: the batch knows its own).
    await h.file('covers/fixed.png', pngBytes(4, 4, 9));
    await h.db('blog_post').where({ cover: 'covers/broken.png' }).update({ cover: 'covers/fixed.png' });
    expect((await h.run(['retry-failed', '--batch', '1'])).code).toBe(0);
    const again = await h.run(['migrate', '--batch', '1']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe('✔ DONE | Migrated=4 | Missing=0 | Skipped=0 | Failed=0');
    // enqueue and stage resume by id the same way; the same sources file is no contradiction.
    const enq = await h.run(['enqueue', '--batch', '1', '--sources', sources, '--json']);
    expect(enq.code).toBe(0);
    expect(JSON.parse(enq.stdout)).toMatchObject({ batch: 1, resumed: true, total: 4 });
  });

  it('refuses a flag that contradicts what the batch recorded, naming the flag and the batch', async () => {
    const sources = await customApp();
    expect((await h.run(['migrate', '--sources', sources, '--limit', '2'])).code).toBe(0);
    await h.db.schema.createTable('blog_gallery', (t) => {
      t.bigIncrements('id');
      t.string('image', 100).notNullable();
    });
    const other = await h.file('other.json', JSON.stringify({ sources: [{ table: 'blog_gallery', column: 'image' }] }));
    const refusals: [string[], string][] = [
      [['migrate', '--batch', '1', '--sources', other], `--sources ${other}: batch 1 was recorded with other sources (blog_post.cover); drop --sources to resume it, or leave out --batch for a new batch`],
      [['migrate', '--batch', '1', '--limit', '3'], '--limit 3: batch 1 was recorded with the first 2 records (sources in order, each by primary key); drop --limit to resume it, or leave out --batch for a new batch'],
      [['enqueue', '--batch', '1', '--only', 'blog_post'], '--only blog_post: batch 1 was recorded with the first 2 records (sources in order, each by primary key); drop --only to resume it, or leave out --batch for a new batch'],
      [['migrate', '--batch', '1', '--dry-run'], '--dry-run: batch 1 is not a dry run; drop --dry-run to resume it, or leave out --batch for a new batch'],
      [['migrate', '--batch', '1', '--store', 'url'], '--store url: batch 1 writes public_id; drop --store to resume it, or leave out --batch for a new batch'],
      [['stage', '--batch', '1'], '--batch 1: batch 1 is a migrate batch; resume it with media-migrate migrate --batch 1'],
      [['enqueue', '--batch', '1', '--stage'], '--stage: batch 1 is a migrate batch; drop --stage to resume it, or leave out --batch for a new batch'],
    ];
    for (const [argv, line] of refusals) {
      const r = await h.run(argv);
      expect(r.stderr, argv.join(' ')).toBe(`media-migrate: ${line}\n`);
      expect(r.code, argv.join(' ')).toBe(2);
    }
    // The same scope as recorded is no contradiction.
    const same = await h.run(['migrate', '--batch', '1', '--limit', '2']);
    expect(same.code).toBe(0);
    expect(same.stdout.trim()).toBe('✔ DONE | Migrated=2 | Missing=0 | Skipped=0 | Failed=0');
    expect(await h.ledger.batches.list()).toHaveLength(1);
  });
});
