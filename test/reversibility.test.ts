import http from 'node:http';
import cloudinaryPkg from 'cloudinary';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sdkOptions } from '../src/emulator/server.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';

const { v2: cloudinary } = cloudinaryPkg;

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

async function seed(n: number) {
  for (let i = 1; i <= n; i++) await h.file(`p/${i}.png`, pngBytes(2, 3, i));
  await h.db('shop_productimages').insert(Array.from({ length: n }, (_, i) => ({ image: `p/${i + 1}.png` })));
  await h.db('shop_bannerimage').insert([{ image: 'p/1.png', title: 'shares p/1' }, { image: '', title: '' }]);
  await h.db('shop_subcategory').insert([{ image: null, name: 'none' }]);
}

describe('rollback --delete-assets', () => {
  it('returns every table byte for byte and removes the assets no other batch uses', async () => {
    await seed(6);
    const before = { p: await h.rows('shop_productimages'), b: await h.rows('shop_bannerimage'), s: await h.rows('shop_subcategory') };
    expect((await h.run(['migrate'])).code).toBe(0);
    expect(h.emulator.assets.size).toBe(6);

    const r = await h.run(['rollback', '--batch', '1', '--delete-assets', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ restored: 7, left: 0, deletedAssets: 6, keptAssets: 0 });
    expect({ p: await h.rows('shop_productimages'), b: await h.rows('shop_bannerimage'), s: await h.rows('shop_subcategory') }).toEqual(before);
    expect(h.emulator.assets.size).toBe(0);
    expect(JSON.parse((await h.run(['status', '--json'])).stdout)).toMatchObject({ batch: 1, state: 'rolled_back' });
  });

  it('keeps assets that another batch still points rows at', async () => {
    await seed(2);
    await h.run(['migrate']);
    // A second batch over a new table of the same files reuses the same assets.
    await h.db.schema.createTable('shop_gallery', (t) => {
      t.bigIncrements('id');
      t.string('image', 100).notNullable();
    });
    await h.db('shop_gallery').insert({ image: 'p/1.png' });
    const sources = await h.file('gallery.json', JSON.stringify({ sources: [{ table: 'shop_gallery', column: 'image' }] }));
    expect((await h.run(['migrate', '--sources', sources])).stdout).toContain('Migrated=1');
    const r = await h.run(['rollback', '--batch', '2', '--delete-assets', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ restored: 1, deletedAssets: 0, keptAssets: 1 });
    expect(h.emulator.assets.size).toBe(2);
  });
});

describe('a rolled-back batch', () => {
  it('says what the rollback restored and left, in status, its --json and the dashboard API, not only what it once migrated', async () => {
    await seed(4);
    expect((await h.run(['migrate'])).code).toBe(0);
    // The app changed one row after the migration: the rollback leaves it.
    await h.db('shop_productimages').where({ id: 2 }).update({ image: 'p/changed-by-app.png' });
    expect(JSON.parse((await h.run(['rollback', '--batch', '1', '--json'])).stdout)).toMatchObject({ restored: 4, left: 1 });

    const json = JSON.parse((await h.run(['status', '--json'])).stdout);
    expect(json).toMatchObject({ batch: 1, state: 'rolled_back', migrated: 5, rollback: { restored: 4, left: 1 } });
    const text = (await h.run(['status'])).stdout.split('\n');
    expect(text[0]).toMatch(/^Batch 1 · rolled back: 4 restored, 1 left · store public_id · started /);

    const { batchStatus } = await import('../src/ledger/batch-status.ts');
    expect((await batchStatus(h.ledger, (await h.ledger.batches.get(1))!)).rollback).toEqual({ restored: 4, left: 1 });
    // A batch that was not rolled back has nothing to say there.
    await h.db('shop_productimages').insert({ image: 'p/1.png' });
    expect((await h.run(['migrate'])).code).toBe(0);
    expect(JSON.parse((await h.run(['status', '--json'])).stdout)).toMatchObject({ batch: 2, state: 'finished', rollback: null });
  });
});

describe('verify', () => {
  it('passes on a clean batch and reports each kind of mismatch with exit 1', async () => {
    await seed(5);
    await h.run(['migrate']);
    const ok = await h.run(['verify', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ batch: 1, checked: 6, ok: 6, problems: 0, adminCalls: 1 });

    const rows = await h.db('shop_productimages').orderBy('id');
    const sdk = sdkOptions(h.emulator, new http.Agent());
    const replace = (publicId: string, bytes: Buffer) =>
      new Promise((resolve, reject) =>
        cloudinary.uploader
          .upload_stream({ ...sdk, public_id: publicId, overwrite: true }, (e, r) => (e ? reject(e) : resolve(r)))
          .end(bytes),
      );
    // The app changed one row; one asset vanished; two assets hold other bytes than we uploaded.
    await h.db('shop_productimages').where({ id: 2 }).update({ image: 'p/other.png' });
    await cloudinary.uploader.destroy(rows[2].image, sdk as never);
    const sameSize = Buffer.from(pngBytes(2, 3, 4));
    sameSize[sameSize.length - 20]! ^= 0xff;
    await replace(rows[3].image, sameSize);
    await replace(rows[4].image, pngBytes(9, 9, 5));

    const bad = await h.run(['verify', '--json']);
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout);
    expect(report).toMatchObject({ checked: 6, ok: 2, problems: 4 });
    expect(Object.fromEntries(report.findings.map((f: { pk: string; problem: string }) => [f.pk, f.problem]))).toEqual({
      '2': 'row_changed',
      '3': 'asset_missing',
      '4': 'etag_mismatch',
      '5': 'bytes_mismatch',
    });
    const text = await h.run(['verify']);
    expect(text.stdout).toContain('ok 2   problems 4');
    expect(text.stdout).toMatch(/shop_productimages\.image\[pk=3\]  asset_missing  no asset media\/p\/3_/);
  });
});
