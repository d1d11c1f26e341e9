import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { createCloudinaryUploader } from '../src/cloudinary/uploader.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { largePngBytes, pngBytes } from './helpers/images.ts';

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

describe('awkward file names', () => {
  it('migrates unicode, spaces, &, + and # in names, and the delivery URL serves the bytes', async () => {
    const names = ['p/été 2024.png', 'p/a&b.png', 'p/c+d.png', 'p/#1 best.png', 'p/日本語.png', 'p dir/with space.png'];
    for (const [i, n] of names.entries()) await h.file(n, pngBytes(2, 2, i));
    await h.db('shop_productimages').insert(names.map((image) => ({ image })));
    const r = await h.run(['migrate']);
    expect(r.stdout.trim()).toBe(`✔ DONE | Migrated=${names.length} | Missing=0 | Skipped=0 | Failed=0`);
    const rows = await h.db('shop_productimages').orderBy('id');
    expect(rows.map((x) => x.image.replace(/_[0-9a-z]{6}$/, ''))).toEqual([
      'media/p/été_2024',
      'media/p/a_b',
      'media/p/c_d',
      'media/p/1_best',
      'media/p/日本語',
      'media/p dir/with_space',
    ]);
    const config = h.config();
    const uploader = createCloudinaryUploader(config.cloudinary, config.upload);
    for (const [i, row] of rows.entries()) {
      expect(await uploader.deliveredEtag(row.image)).toBe(createHash('md5').update(pngBytes(2, 2, i)).digest('hex'));
    }
    uploader.close();
  });

  it('fits a value exactly as long as the column, and refuses one character more', async () => {
    // media/d/<stem>_xxxxxx: 15 characters around the stem; the column holds 100.
    const fits = `d/${'a'.repeat(85)}.png`;
    const over = `d/${'b'.repeat(86)}.png`;
    await h.file(fits, pngBytes(2, 2, 1));
    await h.file(over, pngBytes(2, 2, 2));
    await h.db('shop_productimages').insert([{ image: fits }, { image: over }]);
    const r = await h.run(['migrate']);
    expect(r.stdout.trim()).toBe('✖ DONE | Migrated=1 | Missing=0 | Skipped=0 | Failed=1');
    const [a, b] = await h.db('shop_productimages').orderBy('id');
    expect(a.image).toHaveLength(100);
    expect(b.image).toBe(over);
    const failed = await h.db('media_migrate_records').where({ outcome: 'failed' }).first();
    expect(failed).toMatchObject({ reason: 'too_long' });
    expect(failed.detail).toContain('would be 101 characters; column image holds 100');
    expect(h.emulator.stats().uploadRequests).toBe(1);
  });
});

describe('large images', () => {
  it('go through the chunked upload_large and arrive whole', async () => {
    const big = largePngBytes(11_000_000, 3);
    await h.file('big/poster.png', big);
    await h.db('shop_bannerimage').insert({ image: 'big/poster.png' });
    const r = await h.run(['migrate'], {
      env: { MAX_FILE_BYTES: String(20 * 1024 * 1024), CHUNKED_UPLOAD_ABOVE_BYTES: '5000000', UPLOAD_CHUNK_BYTES: '6000000' },
    });
    expect(r.stdout.trim()).toBe('✔ DONE | Migrated=1 | Missing=0 | Skipped=0 | Failed=0');
    // Two chunks for one asset, assembled byte for byte.
    expect(h.emulator.stats().uploadRequests).toBe(2);
    const row = await h.db('shop_bannerimage').first();
    const asset = h.emulator.assets.get(row.image);
    expect(asset?.bytes).toBe(big.length);
    expect(asset?.etag).toBe(createHash('md5').update(big).digest('hex'));
  });
});

describe('sources that cannot be trusted', () => {
  it('refuses a primary key that is not unique, by name', async () => {
    await h.db.schema.createTable('shop_legacy', (t) => {
      t.integer('id');
      t.string('image', 100);
    });
    const file = await h.file('s.json', JSON.stringify({ sources: [{ table: 'shop_legacy', column: 'image' }] }));
    const r = await h.run(['migrate', '--sources', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'media-migrate: source shop_legacy.image: "id" is not unique in table "shop_legacy" (no primary key or unique constraint on it alone); set "pk" to a unique column',
    );
  });

  it('refuses an unknown column, a non-text column and a malformed file, every problem at once', async () => {
    const file = await h.file(
      's.json',
      JSON.stringify({
        sources: [
          { table: 'shop_productimages', column: 'picture' },
          { table: 'shop_productimages', column: 'product_id' },
          { table: 'shop_bannerimage', column: 'image', pk: 'uuid' },
        ],
      }),
    );
    const r = await h.run(['migrate', '--sources', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      'media-migrate: source shop_productimages.picture: column "picture" does not exist in table "shop_productimages"',
      'media-migrate: source shop_productimages.product_id: column "product_id" is bigint, not a text column holding file paths',
      'media-migrate: source shop_bannerimage.image: primary key column "uuid" does not exist in table "shop_bannerimage"',
    ]);
    const malformed = await h.file('m.json', '{"sources": [{"table": "x"}]}');
    const m = await h.run(['migrate', '--sources', malformed]);
    expect(m.code).toBe(2);
    expect(m.stderr).toMatch(/--sources .*m\.json: sources\.0\.column: /);
    expect(h.emulator.stats().uploadRequests).toBe(0);
  });

  it('identifiers in a sources file never reach SQL unchecked', async () => {
    const file = await h.file('s.json', JSON.stringify({ sources: [{ table: 'shop_productimages; drop table shop_bannerimage; --', column: 'image' }] }));
    const r = await h.run(['migrate', '--sources', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('does not exist');
    expect(await h.db.schema.hasTable('shop_bannerimage')).toBe(true);
  });
});
