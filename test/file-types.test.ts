import cloudinaryPkg from 'cloudinary';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deliveryUrlOptions } from '../src/emulator/server.ts';
import { neededAssets, orphanedMediaSelection } from './helpers/delete-orphaned-media.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { isoMedia, ebmlHeader } from './helpers/media-headers.ts';
import { pngBytes } from './helpers/images.ts';

const { v2: cloudinary } = cloudinaryPkg;

/**
 * FileFields that are not images: a PDF manual served by RawMediaCloudinaryStorage and a product video
 * served by VideoMediaCloudinaryStorage. Each row must end holding what that storage class would have
 * written, fetched back the way the class builds its URL, and deleteorphanedmedia's rule (MEDIA_TAG
 * assets listed per resource type) must select nothing a row needs.
 */

let h: Harness;
beforeEach(async () => {
  h = await createHarness({ shopTables: false });
  for (const [table, column] of [
    ['shop_manual', 'file'],
    ['shop_clip', 'video'],
  ] as const) {
    await h.db.schema.createTable(table, (t) => {
      t.bigIncrements('id').primary();
      t.string(column, 100).notNullable().defaultTo('');
    });
  }
});
afterEach(async () => {
  await h.close();
});

const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
const ZIP = Buffer.from('PK\u0003\u0004 a spreadsheet of sizes');
const MP4 = isoMedia('isom', 4096, 7);
const WEBM = Buffer.concat([ebmlHeader('webm'), Buffer.alloc(512, 3)]);

const SOURCES = [
  { table: 'shop_manual', column: 'file', resourceType: 'raw' },
  { table: 'shop_clip', column: 'video', resourceType: 'video' },
];

async function seed() {
  await h.file('manuals/guide.pdf', PDF);
  await h.file('manuals/sizes 2024.zip', ZIP);
  await h.file('manuals/blank.pdf', Buffer.alloc(0));
  await h.file('clips/intro.mp4', MP4);
  await h.file('clips/loop.webm', WEBM);
  await h.file('clips/poster.mp4', pngBytes(4, 4, 1)); // a picture named .mp4
  await h.db('shop_manual').insert([
    { id: 1, file: 'manuals/guide.pdf' },
    { id: 2, file: 'manuals/sizes 2024.zip' },
    { id: 3, file: 'manuals/blank.pdf' },
    { id: 4, file: 'manuals/lost.pdf' },
  ]);
  await h.db('shop_clip').insert([
    { id: 1, video: 'clips/intro.mp4' },
    { id: 2, video: 'clips/loop.webm' },
    { id: 3, video: 'clips/poster.mp4' },
  ]);
  return h.file('sources.json', JSON.stringify({ sources: SOURCES }));
}

const fetchBytes = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
};
/** CloudinaryResource(name, default_resource_type=RESOURCE_TYPE).url, as the storage classes build it. */
const storageUrl = (name: string, resourceType: 'raw' | 'video') =>
  cloudinary.url(name.startsWith('media/') ? name : `media/${name}`, { ...deliveryUrlOptions(h.emulator), resource_type: resourceType });

describe('raw and video FileFields', () => {
  it('migrates each as its storage class would have stored it, and refuses what the type cannot hold', async () => {
    const sources = await seed();
    const r = await h.run(['migrate', '--sources', sources, '--json']);
    expect(r.code).toBe(1); // the planted failures
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ migrated: 4, missing: 1, failed: 2 });

    const manuals = await h.rows('shop_manual');
    // A raw public_id keeps its extension: RawMediaCloudinaryStorage stores `media/manuals/guide_x1y2z3.pdf`.
    expect(manuals[0]!.file).toMatch(/^media\/manuals\/guide_[0-9a-z]{6}\.pdf$/);
    expect(manuals[1]!.file).toMatch(/^media\/manuals\/sizes_2024_[0-9a-z]{6}\.zip$/);
    expect(manuals[2]!.file).toBe('manuals/blank.pdf');
    expect(manuals[3]!.file).toBe('manuals/lost.pdf');
    const clips = await h.rows('shop_clip');
    // An image or video public_id has none: the delivery URL's extension picks the format.
    expect(clips[0]!.video).toMatch(/^media\/clips\/intro_[0-9a-z]{6}$/);
    expect(clips[1]!.video).toMatch(/^media\/clips\/loop_[0-9a-z]{6}$/);
    expect(clips[2]!.video).toBe('clips/poster.mp4');

    // Each asset lives in its own type's namespace, with the file's MD5, and serves the file's bytes
    // at the URL the storage class builds from the stored value (url(), exists() and size() use it).
    const raw = h.emulator.assetsOf('raw');
    const video = h.emulator.assetsOf('video');
    expect(raw.get(String(manuals[0]!.file))).toMatchObject({ bytes: PDF.length });
    expect(video.get(String(clips[0]!.video))).toMatchObject({ bytes: MP4.length, format: 'mp4' });
    expect(h.emulator.assets.size).toBe(0); // nothing went up as an image
    for (const [value, bytes, type] of [
      [manuals[0]!.file, PDF, 'raw'],
      [manuals[1]!.file, ZIP, 'raw'],
      [clips[0]!.video, MP4, 'video'],
      [clips[1]!.video, WEBM, 'video'],
    ] as const) {
      const got = await fetchBytes(storageUrl(String(value), type));
      expect(got.status).toBe(200);
      expect(got.bytes.equals(bytes)).toBe(true);
      const head = await fetch(storageUrl(String(value), type), { method: 'HEAD' });
      expect(head.headers.get('content-length')).toBe(String(bytes.length));
    }
    const failed = Object.fromEntries(
      (await h.ledger.records.list(summary.batch, { outcome: 'failed' })).map((x) => [`${x.table}:${x.pk}`, x.reason]),
    );
    expect(failed).toEqual({ 'shop_manual:3': 'empty_file', 'shop_clip:3': 'not_a_video' });

    // MEDIA_TAG once the row holds the id, per type; the orphan rule then selects nothing a row holds.
    await h.run(['status', '--json']);
    const values = [...manuals.map((m) => m.file as string), ...clips.map((c) => c.video as string)];
    expect([...raw.values()].every((a) => a.tags.includes('media'))).toBe(true);
    expect([...video.values()].every((a) => a.tags.includes('media'))).toBe(true);
    expect(
      orphanedMediaSelection([...raw.values(), ...video.values()], { tag: 'media', fileFieldValues: values, resourceTypes: ['raw', 'video'] }),
    ).toEqual(new Set());

    // Running again finds the rows already migrated, whatever their extension.
    const again = JSON.parse((await h.run(['migrate', '--sources', sources, '--json'])).stdout);
    expect(again).toMatchObject({ migrated: 0, failed: 2 });
    expect(h.emulator.stats().created).toBe(4);

    // Rollback restores every row byte for byte.
    expect((await h.run(['rollback', '--batch', String(summary.batch)])).code).toBe(0);
    expect((await h.rows('shop_manual')).map((m) => m.file)).toEqual(['manuals/guide.pdf', 'manuals/sizes 2024.zip', 'manuals/blank.pdf', 'manuals/lost.pdf']);
    expect((await h.rows('shop_clip')).map((c) => c.video)).toEqual(['clips/intro.mp4', 'clips/loop.webm', 'clips/poster.mp4']);
  });

  it('stages raw files at PREFIX + the value with its extension and videos as images, served before any row changes', async () => {
    const sources = await seed();
    const r = await h.run(['stage', '--sources', sources, '--json']);
    expect(r.code).toBe(1); // the planted failures
    expect(JSON.parse(r.stdout)).toMatchObject({ staged: 4, missing: 1, failed: 2 });
    expect([...h.emulator.assetsOf('raw').keys()].sort()).toEqual(['media/manuals/guide.pdf', 'media/manuals/sizes 2024.zip']);
    expect([...h.emulator.assetsOf('video').keys()].sort()).toEqual(['media/clips/intro', 'media/clips/loop']);
    // The switched storage asks for exactly these: the rows still hold their file names.
    for (const [value, bytes, type] of [
      ['manuals/guide.pdf', PDF, 'raw'],
      ['manuals/sizes 2024.zip', ZIP, 'raw'],
      ['clips/intro.mp4', MP4, 'video'],
      ['clips/loop.webm', WEBM, 'video'],
    ] as const) {
      const got = await fetchBytes(storageUrl(value, type));
      expect(got.status).toBe(200);
      expect(got.bytes.equals(bytes)).toBe(true);
    }
    // No MEDIA_TAG while rows hold file names: deleteorphanedmedia sees nothing.
    const all = [...h.emulator.assetsOf('raw').values(), ...h.emulator.assetsOf('video').values()];
    expect(all.some((a) => a.tags.includes('media'))).toBe(false);
    const verify = await h.run(['verify', '--batch', String(JSON.parse(r.stdout).batch)]);
    expect(verify.code).toBe(0);

    // Migrate then writes the staged ids without uploading; every row stays served throughout.
    const created = h.emulator.stats().created;
    const m = JSON.parse((await h.run(['migrate', '--sources', sources, '--json'])).stdout);
    expect(m).toMatchObject({ migrated: 4, inPlace: 4 });
    expect(h.emulator.stats().created).toBe(created);
    expect((await h.rows('shop_manual'))[0]!.file).toBe('media/manuals/guide.pdf');
    expect((await h.rows('shop_clip'))[0]!.video).toBe('media/clips/intro');
    const rows = [...(await h.rows('shop_manual')).map((x) => x.file), ...(await h.rows('shop_clip')).map((x) => x.video)] as string[];
    expect(orphanedMediaSelection(all, { tag: 'media', fileFieldValues: rows, resourceTypes: ['raw', 'video'] })).toEqual(new Set());
    const needed = neededAssets((await h.rows('shop_manual')).map((x) => x.file as string), h.emulator.assetsOf('raw'), 'media/', 'raw');
    expect(needed.has('media/manuals/guide.pdf')).toBe(true);
  });

  it('sends a large video through chunked upload_large', async () => {
    const big = isoMedia('mp42', 11 * 1024 * 1024, 9);
    await h.file('clips/long.mp4', big);
    await h.db('shop_clip').insert({ id: 1, video: 'clips/long.mp4' });
    const sources = await h.file('sources.json', JSON.stringify({ sources: [SOURCES[1]] }));
    const r = await h.run(['migrate', '--sources', sources, '--json'], {
      env: { CHUNKED_UPLOAD_ABOVE_BYTES: String(6 * 1024 * 1024), UPLOAD_CHUNK_BYTES: String(5 * 1024 * 1024) },
    });
    expect(JSON.parse(r.stdout)).toMatchObject({ migrated: 1, failed: 0 });
    expect(h.emulator.stats().uploadRequests).toBe(3); // 5 + 5 + 1 MB
    const value = String((await h.rows('shop_clip'))[0]!.video);
    expect(h.emulator.assetsOf('video').get(value)).toMatchObject({ bytes: big.length, format: 'mp4' });
    const got = await fetchBytes(storageUrl(value, 'video'));
    expect(got.bytes.equals(big)).toBe(true);
  });

  it('refuses a text source that names a resourceType, by name', async () => {
    const file = await h.file('sources.json', JSON.stringify({ sources: [{ table: 'shop_manual', column: 'file', kind: 'text', resourceType: 'raw' }] }));
    const r = await h.run(['migrate', '--sources', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('a "text" source takes no resourceType');
  });
});
