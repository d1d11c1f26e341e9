import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';

/**
 * `audit`: what in the database still needs MEDIA_ROOT (file columns still holding paths, URLs of ours
 * inside text), which of those files are gone, and which files on disk nothing references. It only
 * reads: no batch, no upload, no row changed.
 */

let h: Harness;
beforeEach(async () => {
  h = await createHarness({ env: { MEDIA_ORIGINS: 'https://shop.example.com' } });
  await h.db.schema.createTable('blog_page', (t) => {
    t.bigIncrements('id').primary();
    t.text('body').notNullable();
  });
});
afterEach(async () => {
  await h.close();
});

const THUMB = pngBytes(2, 2, 4);

/** What `audit --list` named, sorted: every line but the summary that ends it. */
const listedLines = (stdout: string) => stdout.split('\n').filter(Boolean).slice(0, -1).sort();

async function seed(opts: { lost?: boolean } = {}) {
  await h.file('products/a.png', pngBytes(3, 3, 1));
  await h.file('products/b.png', pngBytes(4, 3, 2));
  await h.file('uploads/in-text.png', pngBytes(5, 3, 3));
  await h.file('uploads/in-text_thumb.png', THUMB); // CKEditor's thumbnail: nothing references it
  await h.file('old/leftover.bin', Buffer.alloc(1500, 1));
  await h.db('shop_productimages').insert([
    { id: 1, image: 'products/a.png' },
    { id: 2, image: 'products/b.png' },
    { id: 3, image: '' },
    { id: 4, image: 'https://cdn.example.com/x.png' },
    ...(opts.lost ? [{ id: 5, image: 'products/lost.png' }] : []),
  ]);
  await h.db('blog_page').insert([
    { id: 1, body: '<img src="https://shop.example.com/media/uploads/in-text.png"> and <img src="https://elsewhere.example.org/media/x.png">' },
    { id: 2, body: 'plain words about /media/ only' },
  ]);
  // Beside MEDIA_ROOT, not in it: a file in it would be one more that nothing references.
  const file = join(h.mediaRoot, '..', 'sources.json');
  await writeFile(file, JSON.stringify({ sources: [{ table: 'shop_productimages', column: 'image' }, { table: 'blog_page', column: 'body', kind: 'text' }] }));
  return file;
}

describe('audit', () => {
  it('counts what still points at MEDIA_ROOT, names it with --list, and writes nothing', async () => {
    const sources = await seed({ lost: true });
    const r = await h.run(['audit', '--sources', sources]);
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toBe('✖ AUDIT | Local references=4 | Missing files=1 | Unreferenced files=2 (1.5 kB)');
    expect(r.stderr).toContain('✖ shop_productimages.image (file): 5 rows, 3 local references, 1 missing files');
    expect(r.stderr).toContain('✖ blog_page.body (text): 2 rows, 1 local references, 0 missing files');

    const listed = await h.run(['audit', '--sources', sources, '--list']);
    expect(listedLines(listed.stdout)).toEqual([
      'local blog_page.body[pk=1] uploads/in-text.png',
      'local shop_productimages.image[pk=1] products/a.png',
      'local shop_productimages.image[pk=2] products/b.png',
      'local shop_productimages.image[pk=5] products/lost.png (missing)',
      'unreferenced old/leftover.bin (1.5 kB)',
      `unreferenced uploads/in-text_thumb.png (${THUMB.length} B)`,
    ].sort());

    const json = JSON.parse((await h.run(['audit', '--sources', sources, '--json'])).stdout);
    expect(json).toMatchObject({ ok: false, localReferences: 4, missingFiles: 1, unreferencedFiles: 2 });
    expect(json.unreferencedBytes).toBe(1500 + THUMB.length);
    expect(json.sources).toEqual([
      { table: 'shop_productimages', column: 'image', kind: 'file', rows: 5, localReferences: 3, missingFiles: 1 },
      { table: 'blog_page', column: 'body', kind: 'text', rows: 2, localReferences: 1, missingFiles: 0 },
    ]);
    // Read only: no batch recorded, nothing uploaded, every row as it was.
    expect(await h.ledger.batches.latest()).toBeUndefined();
    expect(h.emulator.stats().uploadRequests).toBe(0);
    expect((await h.rows('shop_productimages')).map((x) => x.image)).toEqual(['products/a.png', 'products/b.png', '', 'https://cdn.example.com/x.png', 'products/lost.png']);
  });

  it('passes once everything is migrated, and counts the files the old disk still holds', async () => {
    const sources = await seed();
    expect((await h.run(['migrate', '--sources', sources])).code).toBe(0);
    const r = await h.run(['audit', '--sources', sources]);
    expect(r.stdout.trim()).toMatch(/^✔ AUDIT \| Local references=0 \| Missing files=0 \| Unreferenced files=5 \(\d+\.\d kB\)$/);
    expect(r.code).toBe(0);
  });

  it('takes a path a stage batch placed in place as served, and text references as still local', async () => {
    const sources = await seed();
    expect((await h.run(['stage', '--sources', sources])).code).toBe(0);
    const json = JSON.parse((await h.run(['audit', '--sources', sources, '--json'])).stdout);
    expect(json.sources).toEqual([
      { table: 'shop_productimages', column: 'image', kind: 'file', rows: 4, localReferences: 0, missingFiles: 0 },
      { table: 'blog_page', column: 'body', kind: 'text', rows: 2, localReferences: 1, missingFiles: 0 },
    ]);
  });

  it('reads MEDIA_ROOT once and still takes a file however a row spells it, and a symlink as the worker would', async () => {
    await h.file('products/a.png', pngBytes(3, 3, 1));
    await h.file('shared/b.png', pngBytes(4, 3, 2));
    await mkdir(join(h.mediaRoot, 'linked'));
    await symlink(join(h.mediaRoot, 'shared', 'b.png'), join(h.mediaRoot, 'linked', 'b.png')); // inside MEDIA_ROOT: served
    const outside = join(h.mediaRoot, '..', 'outside.png');
    await writeFile(outside, pngBytes(2, 2, 9));
    await symlink(outside, join(h.mediaRoot, 'linked', 'out.png')); // leaves MEDIA_ROOT: the worker refuses it
    await h.db('shop_productimages').insert([
      { id: 1, image: 'products//a.png' },
      { id: 2, image: './products\\a.png' },
      { id: 3, image: 'linked/b.png' },
      { id: 4, image: 'linked/out.png' },
      { id: 5, image: 'products' }, // a folder is not a file
      { id: 6, image: '../products/a.png' },
    ]);
    const file = join(h.mediaRoot, '..', 'sources.json');
    await writeFile(file, JSON.stringify({ sources: [{ table: 'shop_productimages', column: 'image' }] }));
    const listed = await h.run(['audit', '--sources', file, '--list']);
    expect(listedLines(listed.stdout)).toEqual([
      'local shop_productimages.image[pk=1] products//a.png',
      'local shop_productimages.image[pk=2] ./products/a.png',
      'local shop_productimages.image[pk=3] linked/b.png',
      'local shop_productimages.image[pk=4] linked/out.png (missing)',
      'local shop_productimages.image[pk=5] products (missing)',
      'local shop_productimages.image[pk=6] ../products/a.png (missing)',
      // products/a.png is referenced, however spelled; shared/b.png only through the link, which the walk does not follow.
      `unreferenced shared/b.png (${pngBytes(4, 3, 2).length} B)`,
    ].sort());
  });
});
