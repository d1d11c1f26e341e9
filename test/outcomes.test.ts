import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';

let h: Harness;
afterEach(async () => {
  await h.close();
});

async function outcomes(batch = 1) {
  const rows = await h.db('media_migrate_records').where({ batch_id: batch }).orderBy('id');
  return Object.fromEntries(rows.map((r) => [`${r.source_table}#${r.pk}`, `${r.outcome}/${r.reason}`]));
}

describe('every outcome and reason code', () => {
  beforeEach(async () => {
    h = await createHarness({ emulator: { maxImageBytes: 2_000 } });
  });

  it('classifies each kind of record, uploading only the good ones', async () => {
    const outside = join(h.mediaRoot, '..', `outside-${h.id}.png`);
    await writeFile(outside, pngBytes(2, 2, 77));
    await h.file('ok/one.png', pngBytes(3, 3, 1));
    await h.file('ok/zero.png', Buffer.alloc(0));
    await h.file('ok/text.jpg', 'not an image at all');
    await h.link('ok/escape.png', outside);
    await h.file('ok/big.png', pngBytes(300, 300, 5)); // over MAX_FILE_BYTES below
    await h.file('ok/medium.png', Buffer.concat([pngBytes(2, 2, 6), Buffer.alloc(2_500, 1)])); // over the emulator's plan limit
    await h.file(`ok/${'x'.repeat(90)}.png`, pngBytes(2, 2, 8)); // public_id too long for varchar(100)
    await h.db('shop_productimages').insert([
      { id: 1, image: 'ok/one.png' },
      { id: 2, image: '' },
      { id: 3, image: 'https://example.com/a.png' },
      { id: 4, image: 'ok/missing.png' },
      { id: 5, image: '../etc/passwd' },
      { id: 6, image: '/etc/passwd' },
      { id: 7, image: 'ok/escape.png' },
      { id: 8, image: 'ok/zero.png' },
      { id: 9, image: 'ok/text.jpg' },
      { id: 10, image: 'ok/big.png' },
      { id: 11, image: 'ok/medium.png' },
      { id: 12, image: `ok/${'x'.repeat(90)}.png` },
    ]);
    await h.db('shop_subcategory').insert([
      { id: 1, image: null },
      // An upload the app made after switching to django-cloudinary-storage: a public_id, not a file.
      { id: 2, image: 'media/subcategories/new_k2j4x9' },
    ]);

    const r = await h.run(['migrate', '--concurrency', '4'], { env: { MAX_FILE_BYTES: '3000' } });
    expect(r.stdout.trim()).toBe('✖ DONE | Migrated=1 | Missing=1 | Skipped=4 | Failed=8');
    expect(r.code).toBe(1);
    expect(await outcomes()).toEqual({
      'shop_productimages#1': 'migrated/uploaded',
      'shop_productimages#2': 'skipped/empty',
      'shop_productimages#3': 'skipped/remote_url',
      'shop_productimages#4': 'missing/not_found',
      'shop_productimages#5': 'failed/unsafe_path',
      'shop_productimages#6': 'failed/unsafe_path',
      'shop_productimages#7': 'failed/unsafe_path',
      'shop_productimages#8': 'failed/empty_file',
      'shop_productimages#9': 'failed/not_an_image',
      'shop_productimages#10': 'failed/too_large',
      'shop_productimages#11': 'failed/cloudinary_rejected',
      'shop_productimages#12': 'failed/too_long',
      'shop_subcategory#1': 'skipped/empty',
      'shop_subcategory#2': 'skipped/cloudinary_id',
    });
    // Only the good file and the one Cloudinary itself refused ever reached it.
    expect(h.emulator.stats().uploadRequests).toBe(2);
    const failed = await h.db('media_migrate_records').where({ outcome: 'failed', pk: '11' }).first();
    expect(failed.detail).toMatch(/File size too large/);
    // A permanent failure is not retried.
    expect(failed.attempts).toBe(1);
    const rows = await h.db('shop_productimages').orderBy('id');
    expect(rows.filter((x) => x.image.startsWith('media/')).map((x) => Number(x.id))).toEqual([1]);
  });
});

describe('transient failures', () => {
  it('retries 5xx with backoff until it succeeds', async () => {
    h = await createHarness({ emulator: { faults: { errorRate: 0.5 }, seed: 42 } });
    for (let i = 1; i <= 10; i++) await h.file(`p/${i}.png`, pngBytes(2, 2, i));
    await h.db('shop_productimages').insert(Array.from({ length: 10 }, (_, i) => ({ image: `p/${i + 1}.png` })));
    const r = await h.run(['migrate', '--concurrency', '4'], { env: { JOB_ATTEMPTS: '12', RETRY_BACKOFF_MS: '10' } });
    expect(r.stdout.trim()).toBe('✔ DONE | Migrated=10 | Missing=0 | Skipped=0 | Failed=0');
    expect(h.emulator.stats().injected.errors).toBeGreaterThan(0);
    expect(h.emulator.stats().created).toBe(10);
  });

  it('fails with retries_exhausted once attempts run out, naming the record', async () => {
    h = await createHarness({ emulator: { faults: { errorRate: 1 } } });
    await h.file('p/1.png', pngBytes(2, 2, 1));
    await h.db('shop_productimages').insert({ id: 7, image: 'p/1.png' });
    const r = await h.run(['migrate'], { env: { JOB_ATTEMPTS: '3', RETRY_BACKOFF_MS: '10' } });
    expect(r.stdout.trim()).toBe('✖ DONE | Migrated=0 | Missing=0 | Skipped=0 | Failed=1');
    const rec = await h.db('media_migrate_records').first();
    expect(rec).toMatchObject({ outcome: 'failed', reason: 'retries_exhausted', attempts: 3 });
    expect(rec.detail).toMatch(/500/);
    expect(h.emulator.stats().uploadRequests).toBe(3);
    expect((await h.db('shop_productimages').first()).image).toBe('p/1.png');
  });

  it('a 420 pauses the queue and does not use up attempts', async () => {
    h = await createHarness({ emulator: { faults: { rateLimitRate: 0.4, rateLimitRetryAfterMs: 200 }, seed: 7 } });
    for (let i = 1; i <= 8; i++) await h.file(`p/${i}.png`, pngBytes(2, 2, i));
    await h.db('shop_productimages').insert(Array.from({ length: 8 }, (_, i) => ({ image: `p/${i + 1}.png` })));
    // One attempt each: any 420 that cost an attempt would end as a failure.
    const r = await h.run(['migrate', '--concurrency', '2'], { env: { JOB_ATTEMPTS: '1' } });
    expect(r.stdout.trim()).toBe('✔ DONE | Migrated=8 | Missing=0 | Skipped=0 | Failed=0');
    expect(h.emulator.stats().injected.rateLimited).toBeGreaterThan(0);
  });
});
