import { createHash } from 'node:crypto';
import http from 'node:http';
import cloudinaryPkg from 'cloudinary';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inPlaceId } from '../src/cloudinary/in-place-id.ts';
import { jobsForUploadSlots } from '../src/pipeline/upload-slots.ts';
import { rowKey, startCutoverProbe } from '../src/cutover/probe.ts';
import { deliveryUrlOptions, sdkOptions } from '../src/emulator/server.ts';
import { prependPrefix } from '../src/cloudinary/storage-convention.ts';
import { neededAssets, orphanedMediaSelection } from './helpers/delete-orphaned-media.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { gifBytes, jpegHeaderBytes, pngBytes } from './helpers/images.ts';

/**
 * The staged cutover end to end, one piece: every test walks the same stage → switch → migrate story
 * on the same seeded shop, and the steps only make sense read in that order.
 */

const { v2: cloudinary } = cloudinaryPkg;

/**
 * The zero-downtime cutover: `stage` puts every file where MediaCloudinaryStorage will look for the
 * row's current value, so the switch serves every staged row before any row changes; `migrate` then
 * rewrites them without uploading. Every URL here is built the way the storage class builds it:
 * `cloudinary.url(PREFIX + value)` through the SDK, fetched from the emulator's delivery route.
 */

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

const LONG = `products/${'x'.repeat(82)}.png`; // 95 characters: its in-place id fits varchar(100), a suffixed id would not

/** Each value with the file behind it (undefined: no file) and what `stage` must make of it. */
const ROWS: { table: string; value: string; bytes?: Buffer; expect: string }[] = [
  { table: 'shop_productimages', value: 'products/été.png', bytes: pngBytes(4, 4, 1), expect: 'staged' },
  { table: 'shop_productimages', value: 'products/red shoe.png', bytes: pngBytes(5, 4, 2), expect: 'staged' },
  { table: 'shop_productimages', value: 'products/salt & pepper.png', bytes: pngBytes(6, 4, 3), expect: 'illegal_characters' },
  { table: 'shop_productimages', value: 'products/c++.png', bytes: pngBytes(7, 4, 4), expect: 'illegal_characters' },
  { table: 'shop_productimages', value: 'products/#1.png', bytes: pngBytes(8, 4, 5), expect: 'illegal_characters' },
  { table: 'shop_productimages', value: 'products/50%.png', bytes: pngBytes(9, 4, 6), expect: 'illegal_characters' },
  { table: 'shop_productimages', value: 'products/ lead.png', bytes: pngBytes(10, 4, 7), expect: 'whitespace' },
  { table: 'shop_productimages', value: 'products/a.jpg', bytes: jpegHeaderBytes(6, 6, 8), expect: 'collision' },
  { table: 'shop_productimages', value: 'products/a.png', bytes: pngBytes(6, 6, 9), expect: 'collision' },
  { table: 'shop_productimages', value: 'products/shared.png', bytes: pngBytes(3, 3, 10), expect: 'staged' },
  { table: 'shop_productimages', value: 'products/shared.png', expect: 'staged' },
  { table: 'shop_productimages', value: 'products/shared.png', expect: 'staged' },
  { table: 'shop_productimages', value: 'products/anim.jpg', bytes: gifBytes(5, 5, 11), expect: 'staged' },
  { table: 'shop_productimages', value: LONG, bytes: pngBytes(4, 5, 12), expect: 'staged' },
  { table: 'shop_productimages', value: 'products/foreign.png', bytes: pngBytes(4, 6, 13), expect: 'occupied' },
  { table: 'shop_productimages', value: 'products/lost.png', expect: 'missing' },
  { table: 'shop_productimages', value: '', expect: 'skipped' },
  { table: 'shop_bannerimage', value: 'banners/v2/summer.png', bytes: pngBytes(12, 3, 14), expect: 'reserved_folder' },
  { table: 'shop_subcategory', value: 'subcategories/boots.png', bytes: pngBytes(3, 7, 15), expect: 'staged' },
];
const TABLES = ['shop_productimages', 'shop_bannerimage', 'shop_subcategory'];
const FOREIGN = pngBytes(20, 20, 99);

const sdk = () => sdkOptions(h.emulator, new http.Agent());
/** MediaCloudinaryStorage.url(name): PREFIX prepended unless present, then the SDK's URL. */
const storageUrl = (value: string) => cloudinary.url(prependPrefix(value, 'media/'), { ...deliveryUrlOptions(h.emulator), resource_type: 'image' });

async function seed() {
  const files = new Map<string, Buffer>();
  for (const r of ROWS) {
    if (r.bytes) {
      await h.file(r.value, r.bytes);
      files.set(r.value, r.bytes);
    }
    await h.db(r.table).insert({ image: r.value });
  }
  // Someone else's asset at an in-place id, with other bytes.
  await cloudinary.uploader.upload(`data:image/png;base64,${FOREIGN.toString('base64')}`, { ...sdk(), public_id: 'media/products/foreign' } as never);
  return files;
}

async function snapshot() {
  return Object.fromEntries(await Promise.all(TABLES.map(async (t) => [t, await h.rows(t)] as const)));
}

/** Every row, with the bytes of the file it held before the cutover. */
async function rowsWithFiles(files: Map<string, Buffer>) {
  const out: { table: string; pk: string; original: string; bytes: Buffer | undefined }[] = [];
  for (const t of TABLES) for (const r of await h.rows(t)) out.push({ table: t, pk: String(r.id), original: String(r.image ?? ''), bytes: files.get(String(r.image ?? '')) });
  return out;
}

async function fetchBytes(url: string): Promise<{ status: number; body: Buffer }> {
  const res = await fetch(url);
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
}

/** deleteorphanedmedia must select no asset a row needs, now. */
async function expectNothingNeededDeletable() {
  const values = (await Promise.all(TABLES.map((t) => h.db(t).pluck('image')))).flat() as (string | null)[];
  const selected = orphanedMediaSelection(h.emulator.assets.values(), { tag: 'media', fileFieldValues: values });
  const needed = neededAssets(values, h.emulator.assets);
  expect([...selected].filter((id) => needed.has(id))).toEqual([]);
  return selected;
}

async function ledger(batch: number) {
  return (await h.db('media_migrate_records').where({ batch_id: batch }).orderBy('id')) as Record<string, unknown>[];
}

describe('stage', () => {
  it('places every file at its in-place id, writes no row, and the switched storage serves each staged row', async () => {
    const files = await seed();
    const before = await snapshot();
    const r = await h.run(['stage', '--concurrency', '4']);
    expect(r.code).toBe(0);
    const [line, ...rest] = r.stdout.trim().split('\n');
    expect(line).toBe('✔ STAGED | Staged=8 | Not in place=9 | Missing=1 | Skipped=1 | Failed=0');
    // Every not-in-place record is listed with its value and reason; the next step is named.
    for (const row of ROWS.filter((x) => !['staged', 'missing', 'skipped'].includes(x.expect))) {
      expect(rest.some((l) => l.includes(JSON.stringify(row.value)) && l.includes(row.expect))).toBe(true);
    }
    expect(r.stderr).toContain(`Next: media-migrate verify --batch 1`);
    expect(await snapshot()).toEqual(before);

    const records = await ledger(1);
    const rows = await rowsWithFiles(files);
    for (const row of rows) {
      const rec = records.find((x) => x.source_table === row.table && x.pk === row.pk)!;
      const wanted = ROWS.find((x) => x.table === row.table && x.value === row.original)!.expect;
      expect(['staged', 'missing', 'skipped'].includes(wanted) ? rec.outcome : rec.reason, `${row.table}:${row.pk} ${row.original}`).toBe(wanted);
      if (rec.outcome !== 'staged') continue;
      expect(rec.public_id).toBe(inPlaceId(row.original, 'media/'));
      const got = await fetchBytes(storageUrl(row.original));
      expect(got.status, storageUrl(row.original)).toBe(200);
      expect(got.body.equals(row.bytes!)).toBe(true);
    }
    // The collision: neither file sits at media/products/a; the foreign asset is untouched.
    expect(h.emulator.assets.has('media/products/a')).toBe(false);
    expect(h.emulator.assets.get('media/products/foreign')?.etag).toBe(md5(FOREIGN));
    // Three rows sharing one file share one asset; staged assets carry no MEDIA_TAG yet.
    expect(records.filter((x) => x.public_id === 'media/products/shared' && x.outcome === 'staged')).toHaveLength(3);
    expect(h.emulator.stats().createdByPublicId['media/products/shared']).toBe(1);
    for (const a of h.emulator.assets.values()) expect(a.tags).not.toContain('media');
    await expectNothingNeededDeletable();

    // `report` exports them, reasons and all.
    const exported = JSON.parse((await h.run(['report', '--batch', '1', '--format', 'json'])).stdout) as { outcome: string; reason: string; old_value: string }[];
    expect(exported.filter((x) => x.outcome === 'not_in_place').map((x) => [x.old_value, x.reason]).sort()).toEqual(
      ROWS.filter((x) => !['staged', 'missing', 'skipped'].includes(x.expect)).map((x) => [x.value, x.expect]).sort(),
    );

    const status = JSON.parse((await h.run(['status', '--json'])).stdout);
    expect(status).toMatchObject({ batch: 1, kind: 'stage', staged: 8, notInPlace: 9, missing: 1, skipped: 1, failed: 0, state: 'finished' });

    // Run again right before the switch: nothing to upload, everything met where it is.
    const uploads = h.emulator.stats().uploadRequests;
    const again = await h.run(['stage', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ batch: 2, kind: 'stage', staged: 8, notInPlace: 9 });
    expect(h.emulator.stats().uploadRequests).toBe(uploads);
    expect((await ledger(2)).filter((x) => x.outcome === 'staged').every((x) => x.reason === 'existing')).toBe(true);
    expect(await snapshot()).toEqual(before);
  });

  it('re-stages a file changed on disk since, replacing our own asset: the switch never serves it stale', async () => {
    await h.file('products/boot.png', pngBytes(4, 4, 1));
    await h.db('shop_productimages').insert({ image: 'products/boot.png' });
    expect((await h.run(['stage'])).code).toBe(0);
    const changed = pngBytes(9, 9, 2);
    await h.file('products/boot.png', changed);
    const r = await h.run(['stage', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ staged: 1, notInPlace: 0 });
    expect((await ledger(2))[0]).toMatchObject({ outcome: 'staged', reason: 'replaced', etag: md5(changed) });
    expect((await fetchBytes(storageUrl('products/boot.png'))).body.equals(changed)).toBe(true);
  });

  it('a scoped stage (a canary) still sees the values outside its scope that claim its ids, and stages neither', async () => {
    await h.file('products/a.jpg', jpegHeaderBytes(6, 6, 8));
    await h.file('products/a.png', pngBytes(6, 6, 9));
    await h.file('products/b.png', pngBytes(5, 5, 3));
    await h.file('products/b.gif', gifBytes(5, 5, 4));
    await h.file('products/c.png', pngBytes(4, 4, 5));
    // In scope (pk 1-3 of shop_productimages): a.jpg, b.png, c.png. Outside: a.png (pk 4), and in
    // another source products/b.gif (other bytes) and products/c.png (the same file: no collision).
    await h.db('shop_productimages').insert(['products/a.jpg', 'products/b.png', 'products/c.png', 'products/a.png'].map((image) => ({ image })));
    await h.db('shop_bannerimage').insert([{ image: 'products/b.gif' }, { image: 'products/c.png' }]);
    const r = await h.run(['stage', '--only', 'shop_productimages', '--pk-to', '3', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ total: 3, staged: 1, notInPlace: 2 });
    const records = await ledger(1);
    expect(records.map((x) => [x.old_value, x.outcome, x.reason])).toEqual([
      ['products/a.jpg', 'not_in_place', 'collision'],
      ['products/b.png', 'not_in_place', 'collision'],
      ['products/c.png', 'staged', 'uploaded'],
    ]);
    expect(records[0]!.detail).toContain('shop_productimages.image[pk=4], outside this batch, ("products/a.png")');
    expect(records[1]!.detail).toContain('shop_bannerimage.image[pk=1], outside this batch, ("products/b.gif")');
    expect(h.emulator.assets.has('media/products/a')).toBe(false);
    expect(h.emulator.assets.has('media/products/b')).toBe(false);
  });

  it('enqueue --stage spreads a stage batch over workers like any other', async () => {
    await h.file('products/boot.png', pngBytes(4, 4, 1));
    await h.db('shop_productimages').insert({ image: 'products/boot.png' });
    const e = await h.run(['enqueue', '--stage', '--json']);
    expect(JSON.parse(e.stdout)).toMatchObject({ batch: 1, kind: 'stage', enqueued: 1 });
    // `stage --batch` works the stage batch with in-process workers (`migrate --batch 1` names this command instead).
    const m = await h.run(['stage', '--batch', '1', '--json']);
    expect(JSON.parse(m.stdout)).toMatchObject({ batch: 1, staged: 1 });
  });
});

describe('migrate after stage', () => {
  it('rewrites staged rows without uploading, the rest first, while every staged row keeps being served', async () => {
    const files = await seed();
    expect((await h.run(['stage'])).code).toBe(0);
    const staged = (await ledger(1)).filter((x) => x.outcome === 'staged');
    const expected = new Map(
      (await rowsWithFiles(files)).filter((r) => staged.some((s) => s.source_table === r.table && s.pk === r.pk)).map((r) => [rowKey(r.table, r.pk), r.bytes!]),
    );
    expect(expected.size).toBe(8);
    const notInPlace = (await ledger(1)).filter((x) => x.outcome === 'not_in_place').length;

    // The storage is switched; a visitor fetches every row's image in a loop while rows are rewritten.
    const probe = startCutoverProbe({
      db: h.db,
      sources: TABLES.map((table) => ({ table, column: 'image', pk: 'id' })),
      expected,
      fileUrl: () => 'http://127.0.0.1:9/unused',
      storageUrl,
    });
    probe.switchStorage();
    // And an operator runs deleteorphanedmedia in a loop all the while: it must never see a needed asset.
    let rewriting = true;
    let watched = 0;
    const watching = (async () => {
      while (rewriting) {
        await expectNothingNeededDeletable();
        watched++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const uploads = h.emulator.stats().uploadRequests;
    const m = await h.run(['migrate', '--concurrency', '1']);
    rewriting = false;
    await watching;
    expect(watched).toBeGreaterThan(3);
    const report = await probe.stop();
    expect(report.rounds).toBeGreaterThan(1);
    expect(report.broken).toEqual([]);
    expect(m.code).toBe(0);
    expect(m.stdout).toContain('✔ DONE | Migrated=17 | Missing=1 | Skipped=1 | Failed=0');
    expect(m.stdout).toMatch(
      /Rewritten in place \(stage batch 1, no upload\): 8 · 9 not in place, uploaded and rewritten first: all within \d+\.\d s of the batch's start \(their images were missing from the switch until then\)/,
    );
    // Uploads during the rewrite = the records that were not staged.
    expect(h.emulator.stats().uploadRequests - uploads).toBe(notInPlace);

    const records = await ledger(2);
    const inPlace = records.filter((x) => x.reason === 'in_place');
    expect(inPlace).toHaveLength(8);
    for (const r of inPlace) expect(r.new_value).toBe(staged.find((s) => s.source_table === r.source_table && s.pk === r.pk)!.public_id);
    // What was not in place went first: one upload at a time, so the order is the queue's — but the
    // worker holds one job beyond its upload slot, so one in-place rewrite (no upload) may finish
    // while the last upload is still in flight. Compared at full precision, not to the second.
    const at = (x: Record<string, unknown>) => (x.finished_at instanceof Date ? x.finished_at : new Date(String(x.finished_at))).getTime();
    const lastFirst = Math.max(...records.filter((x) => x.priority === 0 && x.outcome === 'migrated').map(at));
    expect(inPlace.filter((x) => at(x) < lastFirst).length).toBeLessThanOrEqual(jobsForUploadSlots(1) - 1);
    // Every row now holds an id the storage class would hold, tagged MEDIA_TAG, and serves its file.
    for (const row of await rowsWithFiles(files)) {
      const value = String((await h.db(row.table).where({ id: row.pk }).first()).image);
      const original = ROWS.find((x) => x.table === row.table && records.find((r) => r.source_table === row.table && r.pk === row.pk)?.old_value === x.value);
      if (!original?.bytes && original?.value !== 'products/shared.png') continue;
      const bytes = files.get(original.value)!;
      expect((await fetchBytes(storageUrl(value))).body.equals(bytes), value).toBe(true);
      expect(h.emulator.assets.get(value)?.tags).toContain('media');
    }
    expect((await ledger(2)).every((x) => x.tagged !== false && x.tagged !== 0)).toBe(true);
    await expectNothingNeededDeletable();

    // A second migrate uploads nothing.
    const again = await h.run(['migrate', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ migrated: 0, failed: 0 });
    expect(h.emulator.stats().uploadRequests - uploads).toBe(notInPlace);
  });

  it('uploads a file changed after the last stage instead of pointing its row at stale bytes', async () => {
    await h.file('products/boot.png', pngBytes(4, 4, 1));
    await h.file('products/50%.png', pngBytes(5, 4, 3));
    await h.db('shop_productimages').insert([{ image: 'products/boot.png' }, { image: 'products/50%.png' }]);
    await h.run(['stage']);
    await h.file('products/boot.png', pngBytes(8, 8, 2));
    const m = await h.run(['migrate', '--json']);
    const out = JSON.parse(m.stdout);
    // The not-in-place row went first (its window is the figure); the changed file was uploaded, not pointed at stale bytes.
    expect(out).toMatchObject({ batch: 2, kind: 'migrate', migrated: 2, stageBatch: 1, inPlace: 0, rewrittenFirst: 1 });
    // MySQL and SQLite keep whole seconds: a window under a second reads 0 there.
    expect(out.exposedSeconds).toBeGreaterThanOrEqual(0);
    expect(out.exposedSeconds).toBeLessThan(30);
    const row = await h.db('shop_productimages').where({ id: 1 }).first();
    expect(row.image).toMatch(/^media\/products\/boot_[0-9a-z]{6}$/);
    expect((await fetchBytes(storageUrl(row.image))).body.equals(pngBytes(8, 8, 2))).toBe(true);
  });
});

describe('the way back', () => {
  it('rolling back the rewrite is zero-downtime; rolling back the stage removes only what no row needs', async () => {
    const files = await seed();
    await h.run(['stage']);
    await h.run(['migrate']);
    const back = await h.run(['rollback', '--batch', '2', '--json']);
    expect(back.code).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ kind: 'migrate', restored: 17, untagged: 6 });
    // The old values are back, and the staged assets still serve them (the storage may still be Cloudinary).
    for (const row of await rowsWithFiles(files)) {
      const value = String((await h.db(row.table).where({ id: row.pk }).first()).image);
      const entry = ROWS.find((x) => x.value === value);
      if (entry?.expect !== 'staged') continue;
      expect((await fetchBytes(storageUrl(value))).body.equals(files.get(value)!), value).toBe(true);
      expect(h.emulator.assets.get(inPlaceId(value, 'media/'))?.tags).not.toContain('media');
    }
    await expectNothingNeededDeletable();

    const stageBack = await h.run(['rollback', '--batch', '1', '--delete-assets', '--json']);
    expect(stageBack.code).toBe(0);
    expect(JSON.parse(stageBack.stdout)).toMatchObject({ kind: 'stage', deletedAssets: 6, rowsServedByDeleted: 8 });
    expect(stageBack.stderr).toContain('rows still hold file paths the deleted assets served');
    expect([...h.emulator.assets.keys()].filter((id) => staged(id))).toEqual([]);
  });
});

describe('verify --batch STAGE_ID', () => {
  it('proves the switch serves every staged row, and names what would not be', async () => {
    for (let i = 1; i <= 4; i++) await h.file(`p/${i}.png`, pngBytes(3 + i, 3, i));
    await h.db('shop_productimages').insert([1, 2, 3, 4].map((i) => ({ image: `p/${i}.png` })));
    await h.run(['stage']);
    const ok = await h.run(['verify', '--batch', '1', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ batch: 1, kind: 'stage', checked: 4, ok: 4, problems: 0, notCovered: 0 });

    await h.file('p/1.png', pngBytes(30, 3, 1)); // changed on disk
    await cloudinary.uploader.destroy('media/p/2', sdk() as never); // gone from Cloudinary
    await h.db('shop_productimages').where({ id: 3 }).update({ image: 'p/other.png' }); // row changed
    await h.db('shop_productimages').insert({ image: 'p/4.png' }); // a new row since the stage
    const bad = await h.run(['verify', '--batch', '1', '--json']);
    expect(bad.code).toBe(1);
    const out = JSON.parse(bad.stdout);
    expect(out).toMatchObject({ checked: 4, ok: 1, problems: 3, notCovered: 2 });
    expect(Object.fromEntries(out.findings.map((f: { pk: string; problem: string }) => [f.pk, f.problem]))).toEqual({ '1': 'file_changed', '2': 'asset_missing', '3': 'row_changed' });
  });
});

function md5(b: Buffer): string {
  return createHash('md5').update(b).digest('hex');
}

function staged(id: string): boolean {
  return ROWS.some((r) => r.expect === 'staged' && inPlaceId(r.value, 'media/') === id);
}
