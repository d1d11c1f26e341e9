import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';

/** Canary and partial batches: --limit, --only, --pk-from/--pk-to, recorded with the batch. */

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
  for (let i = 1; i <= 6; i++) await h.file(`p/${i}.png`, pngBytes(3 + i, 2, i));
  for (let i = 1; i <= 3; i++) await h.file(`b/${i}.png`, pngBytes(2, 3 + i, 10 + i));
  await h.db('shop_productimages').insert([1, 2, 3, 4, 5, 6].map((i) => ({ image: `p/${i}.png` })));
  await h.db('shop_bannerimage').insert([1, 2, 3].map((i) => ({ image: `b/${i}.png` })));
});
afterEach(async () => {
  await h.close();
});

const json = (r: { stdout: string }) => JSON.parse(r.stdout) as Record<string, unknown>;

describe('canary batches', () => {
  it('--limit N migrates the first N records overall; a batch without a scope then does the rest', async () => {
    const canary = await h.run(['migrate', '--limit', '4']);
    expect(canary.code).toBe(0);
    expect(canary.stdout.trim()).toBe('✔ DONE | Migrated=4 | Missing=0 | Skipped=0 | Failed=0');
    expect(canary.stderr).toContain('Batch 1 covered the first 4 records (sources in order, each by primary key); run migrate without a scope for the rest');
    // The first four records of the batch: the first source, by primary key.
    const migrated = (await h.db('media_migrate_records').where({ batch_id: 1 }).orderBy('id')).map((r) => `${r.source_table}:${r.pk}`);
    expect(migrated).toEqual(['shop_productimages:1', 'shop_productimages:2', 'shop_productimages:3', 'shop_productimages:4']);
    expect(json(await h.run(['status', '--json']))).toMatchObject({ batch: 1, total: 4, scope: { limit: 4 }, scopeText: 'the first 4 records (sources in order, each by primary key)' });
    expect((await h.run(['status'])).stdout).toContain('  scope: the first 4 records');
    expect((await h.run(['report', '--batch', '1'])).stderr).toContain('Batch 1 (migrate) covered the first 4 records');

    const rest = await h.run(['migrate', '--json']);
    expect(json(rest)).toMatchObject({ batch: 2, total: 9, migrated: 5, skipped: 4, failed: 0, scope: null });
    const skipped = await h.db('media_migrate_records').where({ batch_id: 2, outcome: 'skipped' });
    expect(skipped.every((r) => r.reason === 'already_migrated')).toBe(true);
    expect(h.emulator.stats().created).toBe(9);
  });

  it('--only picks sources and --pk-from/--pk-to a range of primary keys, in every source it keeps', async () => {
    const banners = await h.run(['migrate', '--only', 'shop_bannerimage.image', '--json']);
    expect(json(banners)).toMatchObject({ total: 3, migrated: 3, scope: { only: ['shop_bannerimage.image'] } });
    const range = await h.run(['enqueue', '--pk-from', '2', '--pk-to', '4', '--json']);
    expect(json(range)).toMatchObject({ batch: 2, total: 5, scope: { pkFrom: '2', pkTo: '4' } });
    const pks = (await h.db('media_migrate_records').where({ batch_id: 2 }).orderBy('id')).map((r) => `${r.source_table}:${r.pk}`);
    expect(pks).toEqual(['shop_productimages:2', 'shop_productimages:3', 'shop_productimages:4', 'shop_bannerimage:2', 'shop_bannerimage:3']);
    // ...and `stage` takes them too. Its first record only: its own worker also works batch 2 (pks 2-4),
    // whose migrate may rewrite a row before the stage reaches it.
    const staged = await h.run(['stage', '--only', 'shop_productimages', '--limit', '1', '--json']);
    expect(json(staged)).toMatchObject({ kind: 'stage', total: 1, staged: 1, scope: { limit: 1, only: ['shop_productimages'] } });
    expect((await h.db('media_migrate_records').where({ batch_id: 3 })).map((r) => r.pk)).toEqual(['1']);
    // --only is repeatable: every source it names, and no other.
    await h.db('shop_subcategory').insert({ name: 'boots', image: 'b/1.png' });
    const two = await h.run(['enqueue', '--only', 'shop_subcategory', '--only', 'shop_bannerimage.image', '--json']);
    expect(json(two)).toMatchObject({ total: 4, scope: { only: ['shop_subcategory', 'shop_bannerimage.image'] } });
    const sources = (await h.db('media_migrate_records').where({ batch_id: json(two).batch as number }).distinct('source_table')).map((r) => String(r.source_table)).sort();
    expect(sources).toEqual(['shop_bannerimage', 'shop_subcategory']);
  });

  it('refuses a source --only does not know, with one line naming it', async () => {
    const r = await h.run(['migrate', '--only', 'shop_nope']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'media-migrate: --only shop_nope: no such source (the sources are shop_productimages.image, shop_bannerimage.image, shop_subcategory.image)',
    );
    expect(await h.ledger.batches.list()).toEqual([]);
  });
});
