import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes, gifBytes } from './helpers/images.ts';

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

describe('migrate', () => {
  it('migrates every referenced image and prints the summary line', async () => {
    await h.file('products/a.png', pngBytes(4, 3, 1));
    await h.file('products/b.png', pngBytes(5, 5, 2));
    await h.file('banners/top.gif', gifBytes(8, 2, 3));
    await h.db('shop_productimages').insert([{ image: 'products/a.png' }, { image: 'products/b.png' }, { image: '' }]);
    await h.db('shop_bannerimage').insert([{ image: 'banners/top.gif' }, { image: 'banners/gone.gif' }]);
    await h.db('shop_subcategory').insert([{ image: null }]);

    const r = await h.run(['migrate', '--concurrency', '4']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('✔ DONE | Migrated=3 | Missing=1 | Skipped=2 | Failed=0');
    expect(r.code).toBe(0);

    const rows = await h.db('shop_productimages').orderBy('id');
    expect(rows[0].image).toMatch(/^media\/products\/a_[0-9a-z]{6}$/);
    expect(rows[1].image).toMatch(/^media\/products\/b_[0-9a-z]{6}$/);
    expect(rows[2].image).toBe('');
    const asset = h.emulator.assets.get(rows[0].image);
    expect(asset?.bytes).toBe(pngBytes(4, 3, 1).length);
    expect(asset?.tags).toContain('media');
    expect(h.emulator.stats().created).toBe(3);
  });
});

describe('enqueue at page size', () => {
  it('records a table larger than a page in every database (SQLite caps a multi-row insert at 500 terms)', async () => {
    const rows = Array.from({ length: 1_200 }, (_, i) => ({ image: `p/${i + 1}.png` }));
    for (let i = 0; i < rows.length; i += 200) await h.db('shop_productimages').insert(rows.slice(i, i + 200));
    // Rows only, no files: --allow-missing says so (else the batch is refused as a wrong MEDIA_ROOT).
    expect(JSON.parse((await h.run(['enqueue', '--allow-missing', '--json'])).stdout)).toMatchObject({ batch: 1, total: 1_200, pending: 1_200 });
    expect(JSON.parse((await h.run(['enqueue', '--stage', '--allow-missing', '--json'])).stdout)).toMatchObject({ batch: 2, kind: 'stage', total: 1_200 });
  });
});
