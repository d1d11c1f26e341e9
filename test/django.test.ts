import http from 'node:http';
import cloudinaryPkg from 'cloudinary';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deliveryUrlOptions, sdkOptions } from '../src/emulator/server.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { gifBytes, jpegHeaderBytes, pngBytes } from './helpers/images.ts';
import { createDjangoSchema } from './fixtures/django-schema.ts';
import { isoMedia } from './helpers/media-headers.ts';

const { v2: cloudinary } = cloudinaryPkg;

let h: Harness;
beforeEach(async () => {
  h = await createHarness({ shopTables: false });
  await createDjangoSchema(h.db);
});
afterEach(async () => {
  await h.close();
});

const FILES: Record<string, Buffer> = {
  'products/shoe.jpg': jpegHeaderBytes(40, 30, 1),
  'products/boot.png': pngBytes(8, 8, 2),
  'banners/summer sale!.png': pngBytes(20, 5, 3),
  'subcategories/été.gif': gifBytes(6, 6, 4),
  'blog/covers/launch.png': pngBytes(12, 6, 5),
  'blog/files/terms.pdf': Buffer.from('%PDF-1.4 not an image'),
};

async function seedDjango() {
  for (const [name, bytes] of Object.entries(FILES)) await h.file(name, bytes);
  const now = new Date();
  await h.db('shop_category').insert({ id: 1, name: 'Shoes', slug: 'shoes' });
  await h.db('shop_subcategory').insert([
    { id: 1, name: 'Boots', image: 'subcategories/été.gif', category_id: 1 },
    { id: 2, name: 'Sandals', image: null, category_id: 1 },
  ]);
  await h.db('shop_product').insert({ id: 1, name: 'Boot', description: 'A boot', price: '10.00', sub_category_id: 1 });
  await h.db('shop_productimages').insert([
    { id: 1, image: 'products/shoe.jpg', product_id: 1 },
    { id: 2, image: 'products/boot.png', product_id: 1 },
    { id: 3, image: '', product_id: 1 },
    { id: 4, image: 'products/lost.jpg', product_id: 1 },
  ]);
  await h.db('shop_bannerimage').insert([{ id: 1, title: 'Summer', image: 'banners/summer sale!.png', link: 'https://shop.example/sale' }]);
  await h.db('blog_post').insert([{ id: 1, title: 'Launch', cover: 'blog/covers/launch.png', attachment: 'blog/files/terms.pdf', published: now }]);
}

describe('discover on a real Django schema', () => {
  it('proposes exactly the media columns, each with its resource type, with counts', async () => {
    await seedDjango();
    const r = await h.run(['discover', '--sample', '50']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.sources).toEqual([
      { table: 'blog_post', column: 'cover', pk: 'id' },
      // A PDF FileField is served by RawMediaCloudinaryStorage.
      { table: 'blog_post', column: 'attachment', pk: 'id', resourceType: 'raw' },
      { table: 'shop_bannerimage', column: 'image', pk: 'id' },
      { table: 'shop_productimages', column: 'image', pk: 'id' },
      { table: 'shop_subcategory', column: 'image', pk: 'id' },
    ]);
    const byName = Object.fromEntries(d.discovered.map((c: { table: string; column: string }) => [`${c.table}.${c.column}`, c]));
    expect(byName['shop_productimages.image']).toMatchObject({ rows: 4, empty: 1, sampled: 3, imagePaths: 3, filesFound: 2, djangoModel: true });
    expect(byName['shop_subcategory.image']).toMatchObject({ rows: 2, empty: 1, filesFound: 1 });
    // Links and names are text columns too, but not media.
    expect(byName['shop_bannerimage.link'].proposed).toBe(false);
    expect(byName['blog_post.attachment']).toMatchObject({ kind: 'file', proposed: true, resourceType: 'raw', types: { raw: 1 }, notServed: [] });
    expect(byName['shop_category.slug'].proposed).toBe(false);
    // Django's own bookkeeping is never looked at; a third-party app's table is, whatever its name.
    const bookkeeping = /^(django_(migrations|session|content_type|admin_log|site)|auth_(permission|group|group_permissions|user_groups|user_user_permissions))\./;
    expect(Object.keys(byName).filter((k) => bookkeeping.test(k))).toEqual([]);
    expect(byName['django_summernote_attachment.file']).toMatchObject({ rows: 0, proposed: false });
    expect(r.stderr).toContain('✔ shop_productimages.image: 4 rows, 1 empty, 3/3 sampled look like images, 2 files found');

    // What it prints is a sources file `migrate` accepts as it is.
    const file = await h.file('sources.json', r.stdout);
    const m = await h.run(['migrate', '--sources', file]);
    expect(m.stdout.trim()).toBe('✔ DONE | Migrated=6 | Missing=1 | Skipped=2 | Failed=0');
  });

  it('proposes rich-text columns with their references, and says which values a mixed column would not serve', async () => {
    await seedDjango();
    await h.file('uploads/2024/inline.png', pngBytes(3, 3, 21));
    await h.file('docs/care.pdf', Buffer.from('%PDF-1.4 care'));
    await h.db('shop_product').insert([
      { id: 2, name: 'Shoe', description: '<p>Nice.</p><img src="/media/uploads/2024/inline.png"><a href="https://shop.example.com/media/docs/care.pdf">care</a>', price: '1.00', sub_category_id: 1 },
      { id: 3, name: 'Sock', description: '![x](/media/uploads/2024/inline.png) ![gone](/media/uploads/gone.png)', price: '1.00', sub_category_id: 1 },
    ]);
    // A FileField whose uploads are mostly pictures, but one PDF slipped in.
    await h.db('shop_productimages').insert({ id: 5, image: 'blog/files/terms.pdf', product_id: 1 });
    const r = await h.run(['discover', '--sample', '50'], { env: { MEDIA_ORIGINS: 'https://shop.example.com' } });
    const d = JSON.parse(r.stdout);
    expect(d.sources).toContainEqual({ table: 'shop_product', column: 'description', pk: 'id', kind: 'text' });
    const byName = Object.fromEntries(d.discovered.map((c: { table: string; column: string }) => [`${c.table}.${c.column}`, c]));
    expect(byName['shop_product.description']).toMatchObject({ kind: 'text', proposed: true, rows: 3, text: { rowsWithReferences: 2, references: 4, files: 3, filesFound: 2 } });
    expect(r.stderr).toContain('✔ shop_product.description: 3 rows, 0 empty, text with media URLs: 2 rows reference 3 files (4 references), 2 files found → "kind": "text"');
    expect(byName['shop_productimages.image']).toMatchObject({ resourceType: 'image', types: { image: 3, raw: 1 }, notServed: ['blog/files/terms.pdf'] });
    expect(r.stderr).toContain('! shop_productimages.image mixes types (3 image, 1 raw sampled): its storage serves one type (image); these would not be served: blog/files/terms.pdf');
  });
});

describe('discover and third-party apps', () => {
  it('proposes the uploads of an app whose tables begin with django_ (django-summernote), not Django\'s own tables', async () => {
    await seedDjango();
    await h.file('django-summernote/2024-03-08/9f1c2a-photo.png', pngBytes(5, 5, 9));
    await h.file('django-summernote/2024-03-09/77ab01-chart.png', pngBytes(6, 5, 10));
    const uploaded = new Date();
    await h.db('django_summernote_attachment').insert([
      { id: 1, name: 'photo.png', file: 'django-summernote/2024-03-08/9f1c2a-photo.png', uploaded },
      { id: 2, name: 'chart.png', file: 'django-summernote/2024-03-09/77ab01-chart.png', uploaded },
    ]);
    // A session whose data happens to look like an image path is still bookkeeping.
    await h.db('django_session').insert({ session_key: 'k'.repeat(32), session_data: 'products/shoe.jpg', expire_date: uploaded });
    const r = await h.run(['discover', '--sample', '50']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.sources).toContainEqual({ table: 'django_summernote_attachment', column: 'file', pk: 'id' });
    const byName = Object.fromEntries(d.discovered.map((c: { table: string; column: string }) => [`${c.table}.${c.column}`, c]));
    expect(byName['django_summernote_attachment.file']).toMatchObject({ rows: 2, imagePaths: 2, filesFound: 2, djangoModel: true, proposed: true });
    expect(byName['django_session.session_data']).toBeUndefined();
    expect(r.stderr).toContain('✔ django_summernote_attachment.file: 2 rows, 0 empty, 2/2 sampled look like images, 2 files found');
  });
});

describe('what is written matches what the storage class would write', () => {
  const sdk = () => sdkOptions(h.emulator, new http.Agent());
  const delivery = () => deliveryUrlOptions(h.emulator);
  const fetchBytes = async (url: string) => Buffer.from(await (await fetch(url)).arrayBuffer());

  /** MediaCloudinaryStorage._save: prefix, use_filename, folder=dirname, tags=MEDIA_TAG. */
  async function storageClassSave(name: string): Promise<{ public_id: string; format: string; etag: string; tags: string[] }> {
    const prefixed = `media/${name}`;
    const folder = prefixed.split('/').slice(0, -1).join('/');
    return (await cloudinary.uploader.upload(`${h.mediaRoot}/${name}`, {
      ...sdk(),
      use_filename: true,
      resource_type: 'image',
      tags: 'media',
      folder,
    } as never)) as never;
  }

  it('MediaCloudinaryStorage (default): the same public_id shape, and image.url serves the same bytes', async () => {
    await seedDjango();
    expect((await h.run(['migrate', '--sources', await sourcesFile()])).code).toBe(0);
    const written = [
      ...(await h.db('shop_productimages').whereIn('id', [1, 2]).orderBy('id')).map((r) => [r.image, ['products/shoe.jpg', 'products/boot.png'][Number(r.id) - 1]]),
      [(await h.db('shop_bannerimage').first()).image, 'banners/summer sale!.png'],
      [(await h.db('shop_subcategory').where({ id: 1 }).first()).image, 'subcategories/été.gif'],
      [(await h.db('blog_post').first()).cover, 'blog/covers/launch.png'],
    ] as [string, string][];
    for (const [ours, name] of written) {
      const theirs = await storageClassSave(name);
      // Django's random 6 characters against our content-derived 6: everything else is identical.
      const shape = (id: string) => id.replace(/_[0-9a-z]{6}$/, '_??????');
      expect(shape(ours)).toBe(shape(theirs.public_id));
      const asset = h.emulator.assets.get(ours)!;
      expect(asset.format).toBe(theirs.format);
      expect(asset.etag).toBe(theirs.etag);
      expect(asset.tags).toContain('media');
      // CloudinaryResource(name, default_resource_type='image').url, as the storage class builds it.
      const url = cloudinary.url(ours, { ...delivery(), resource_type: 'image' });
      expect(await fetchBytes(url)).toEqual(FILES[name]);
    }
  });

  it('RawMediaCloudinaryStorage and VideoMediaCloudinaryStorage: the same public_id shape, and url() serves the same bytes', async () => {
    // Both subclass MediaCloudinaryStorage and change only RESOURCE_TYPE: same PREFIX, use_filename,
    // folder and MEDIA_TAG; what they store is the public_id Cloudinary returns (a raw one keeps its
    // extension). An mp4 is a video container; any bytes are a raw file.
    const mp4 = isoMedia('isom', 2048, 3);
    const files: [string, Buffer, 'raw' | 'video'][] = [
      ['blog/files/terms.pdf', FILES['blog/files/terms.pdf']!, 'raw'],
      ['blog/clips/launch video.mp4', mp4, 'video'],
    ];
    await seedDjango();
    await h.file('blog/clips/launch video.mp4', mp4);
    await h.db.schema.createTable('blog_clip', (t) => {
      t.bigIncrements('id').primary();
      t.string('video', 100).notNullable();
    });
    await h.db('blog_clip').insert({ id: 1, video: 'blog/clips/launch video.mp4' });
    const sources = await h.file(
      'sources.json',
      JSON.stringify({
        sources: [
          { table: 'blog_post', column: 'attachment', resourceType: 'raw' },
          { table: 'blog_clip', column: 'video', resourceType: 'video' },
        ],
      }),
    );
    expect((await h.run(['migrate', '--sources', sources])).code).toBe(0);
    const written = [(await h.db('blog_post').first()).attachment, (await h.db('blog_clip').first()).video] as string[];
    for (const [i, [name, bytes, type]] of files.entries()) {
      const ours = written[i]!;
      const prefixed = `media/${name}`;
      const theirs = (await cloudinary.uploader.upload(`${h.mediaRoot}/${name}`, {
        ...sdk(),
        use_filename: true,
        resource_type: type,
        tags: 'media',
        folder: prefixed.split('/').slice(0, -1).join('/'),
      } as never)) as unknown as { public_id: string; etag: string };
      const shape = (id: string) => id.replace(/_[0-9a-z]{6}(\.[a-z0-9]+)?$/, '_??????$1');
      expect(shape(ours)).toBe(shape(theirs.public_id));
      const asset = h.emulator.assetsOf(type).get(ours)!;
      expect(asset.etag).toBe(theirs.etag);
      expect(asset.tags).toContain('media');
      // CloudinaryResource(name, default_resource_type=RESOURCE_TYPE).url: exists() and size() HEAD it.
      const url = cloudinary.url(ours, { ...delivery(), resource_type: type });
      expect(await fetchBytes(url)).toEqual(bytes);
      expect((await fetch(url, { method: 'HEAD' })).headers.get('content-length')).toBe(String(bytes.length));
    }
    expect(written[0]).toMatch(/\.pdf$/);
    expect(written[1]).not.toMatch(/\.mp4$/);
  });

  it('plain secure_url convention: the stored URL serves the same bytes', async () => {
    await seedDjango();
    expect((await h.run(['migrate', '--store', 'url', '--sources', await sourcesFile()])).code).toBe(0);
    const row = await h.db('blog_post').first();
    expect(row.cover).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/demo\/image\/upload\/v\d+\/media\/blog\/covers\/launch_[0-9a-z]{6}\.png$/);
    expect(await fetchBytes(row.cover)).toEqual(FILES['blog/covers/launch.png']);
  });

  async function sourcesFile() {
    return h.file(
      'sources.json',
      JSON.stringify({
        sources: [
          { table: 'shop_productimages', column: 'image' },
          { table: 'shop_bannerimage', column: 'image' },
          { table: 'shop_subcategory', column: 'image' },
          { table: 'blog_post', column: 'cover' },
        ],
      }),
    );
  }
});
