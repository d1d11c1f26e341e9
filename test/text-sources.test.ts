import { createHash } from 'node:crypto';
import request from 'supertest';
import { createDashboardApp } from '../dashboard/app.ts';
import { dashboardDeps } from './helpers/dashboard.ts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCloudinaryUploader, type Uploader } from '../src/cloudinary/uploader.ts';
import { checkSources } from '../src/db/check-sources.ts';
import { openBatch } from '../src/pipeline/producer.ts';
import { textRecord } from '../src/records/text-record.ts';
import { findReferences } from '../src/text/references.ts';
import { rewriteReferences } from '../src/text/rewrite.ts';
import { orphanedMediaSelection } from './helpers/delete-orphaned-media.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { gifBytes, jpegHeaderBytes, pngBytes } from './helpers/images.ts';
import { isoMedia } from './helpers/media-headers.ts';
import { LedgerGroups } from '../src/records/ledger-groups.ts';

/**
 * Media inside text columns, one piece: one fixture of what rich-text editors store (HTML, Markdown,
 * JSON) walked through migrate, retry, verify and rollback. Every reference must end as a URL that
 * serves the file's bytes, every other byte of the text unchanged, each file uploaded once.
 */

const ORIGINS = 'https://shop.example.com,https://www.shop.example.com';
const SETTINGS = { mediaUrl: '/media/', mediaOrigins: ORIGINS.split(',') };

let h: Harness;
beforeEach(async () => {
  h = await createHarness({ env: { MEDIA_ORIGINS: ORIGINS } });
  await h.db.schema.createTable('blog_page', (t) => {
    t.bigIncrements('id').primary();
    t.text('body').notNullable();
  });
  await h.db.schema.createTable('shop_teaser', (t) => {
    t.bigIncrements('id').primary();
    t.string('blurb', 60).notNullable();
  });
});
afterEach(async () => {
  await h.close();
});

const FILES: Record<string, Buffer> = {
  'uploads/2024/03/08/photo.jpg': jpegHeaderBytes(40, 30, 1),
  'uploads/a.jpg': pngBytes(6, 6, 2),
  'uploads/a.jpg.webp': pngBytes(7, 6, 3),
  'uploads/shared.png': pngBytes(8, 6, 4),
  'uploads/café menu.png': gifBytes(5, 5, 5),
  'docs/manual.pdf': Buffer.from('%PDF-1.4\n%%EOF\n'),
  'clips/intro.mp4': isoMedia('isom', 2048, 6),
  'clips/poster.jpg': jpegHeaderBytes(20, 10, 7),
  'markdownx/ab12.png': pngBytes(9, 9, 8),
};

const HTML =
  '<p>Intro</p><img src="/media/uploads/2024/03/08/photo.jpg" style="width:50%">' +
  '<img src="https://shop.example.com/media/uploads/a.jpg"><img src="//www.shop.example.com/media/uploads/a.jpg.webp">' +
  '<img srcset="/media/uploads/a.jpg 320w, /media/uploads/a.jpg.webp 640w" src="/media/uploads/shared.png">' +
  '<img srcset="/media/uploads/a.jpg 1x, /media/uploads/a.jpg.webp 2x">' +
  '<a href="/media/docs/manual.pdf#page=2">Manual</a>' +
  '<video src="/media/clips/intro.mp4" poster="/media/clips/poster.jpg"><source src="/media/clips/intro.mp4?v=2"></video>' +
  '<img src="https://other.example.org/media/uploads/a.jpg"><img src="https://res.cloudinary.com/demo/image/upload/v1/media/uploads/a.jpg">' +
  '<img src="data:image/png;base64,iVBORw0KGgo="><p>Files live in /media/ on the server.</p>';
const MARKDOWN =
  '![menu](/media/uploads/caf%C3%A9%20menu.png) and ![again](<https://shop.example.com/media/uploads/café menu.png>)\n\n' +
  'Read the [manual][m].\n\n[m]: /media/docs/manual.pdf "PDF"\n\n![shared](/media/uploads/shared.png)\n';
const JSON_TEXT =
  '{"blocks":[{"type":"image","data":{"file":{"url":"\\/media\\/markdownx\\/ab12.png"}}}],' +
  '"html":"<img src=\\"\\/media\\/uploads\\/caf\\u00e9 menu.png\\">"}';
const MISSING = '<img src="/media/uploads/gone.jpg"><img src="/media/uploads/a.jpg">';
const TRAVERSAL = '<img src="/media/../settings.py"><img src="/media/uploads/a.jpg">';
const PLAIN = '<p>No pictures, only /media/ in prose.</p>';

const TEXTS = [HTML, MARKDOWN, JSON_TEXT, MISSING, TRAVERSAL, PLAIN];

async function seed(): Promise<string> {
  for (const [name, bytes] of Object.entries(FILES)) await h.file(name, bytes);
  await h.db('blog_page').insert(TEXTS.map((body, i) => ({ id: i + 1, body })));
  await h.db('shop_productimages').insert({ id: 1, image: 'uploads/shared.png' });
  await h.db('shop_teaser').insert({ id: 1, blurb: '<img src="/media/uploads/a.jpg">' });
  return h.file(
    'sources.json',
    JSON.stringify({
      sources: [
        { table: 'shop_productimages', column: 'image' },
        { table: 'blog_page', column: 'body', kind: 'text' },
        { table: 'shop_teaser', column: 'blurb', kind: 'text' },
      ],
    }),
  );
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const EMULATOR_URL = /http:\/\/127\.0\.0\.1:\d+\/demo\/(?:image|raw|video)\/upload\/v\d+\/[^"'\s)<>?#,\\]+/g;
const EMULATOR_URL_JSON = /http:\\\/\\\/127\.0\.0\.1:\d+\\\/demo\\\/(?:image|raw|video)\\\/upload\\\/v\d+\\\/(?:[^"'\s)<>?#,\\]|\\\/)+/g;

/** The text with every reference of ours replaced by X, as our rewrite would write it, and the new text likewise. */
function shape(original: string, rewritten: string): [string, string] {
  const refs = findReferences(original, SETTINGS).filter((r) => !r.unsafe && FILES[r.name]);
  const expected = rewriteReferences(original, refs, () => 'https://x.example/').text;
  const actual = rewritten.replace(EMULATOR_URL_JSON, 'https:\\/\\/x.example\\/').replace(EMULATOR_URL, 'https://x.example/');
  return [actual, expected];
}

async function bodies(): Promise<string[]> {
  return (await h.rows('blog_page')).map((r) => String(r.body));
}

describe('media referenced inside text columns', () => {
  it('rewrites every reference of ours to a URL serving the same bytes, leaving every other byte, and uploads each file once', async () => {
    const sources = await seed();
    // One at a time: the image column's record runs first, and the text then finds its asset.
    const r = await h.run(['migrate', '--sources', sources, '--concurrency', '1', '--json']);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ total: 8, migrated: 4, missing: 1, skipped: 1, failed: 2 });
    const records = await h.ledger.records.list(summary.batch);
    const of = (table: string, pk: string) => records.find((x) => x.table === table && x.pk === pk)!;
    expect(of('blog_page', '1')).toMatchObject({ outcome: 'migrated', detail: 'rewrote 12 references to 7 files' });
    expect(of('blog_page', '4')).toMatchObject({ outcome: 'missing', reason: 'not_found' });
    expect(of('blog_page', '4').detail).toContain('not under MEDIA_ROOT: uploads/gone.jpg');
    expect(of('blog_page', '5')).toMatchObject({ outcome: 'failed', reason: 'unsafe_path' });
    expect(of('blog_page', '5').detail).toContain('reference "/media/../settings.py" leaves MEDIA_ROOT');
    expect(of('blog_page', '6')).toMatchObject({ outcome: 'skipped', reason: 'no_references' });
    expect(of('shop_teaser', '1')).toMatchObject({ outcome: 'failed', reason: 'too_long' });

    const after = await bodies();
    for (const [i, original] of TEXTS.entries()) {
      const [actual, expected] = shape(original, after[i]!);
      expect(actual).toBe(expected);
    }
    // What is left of ours: the missing file, the traversal (refused), nothing else.
    const left = after.flatMap((t) => findReferences(t, SETTINGS)).map((x) => x.name || x.written);
    expect(left.sort()).toEqual(['../settings.py', 'uploads/gone.jpg']);
    expect(JSON.parse(after[2]!)).toBeTruthy(); // still JSON
    expect((await h.rows('shop_teaser'))[0]!.blurb).toBe('<img src="/media/uploads/a.jpg">');

    // Every URL now in the texts serves the bytes of the file its reference named.
    const byMd5 = new Set(Object.values(FILES).map(md5));
    const urls = after.join('\n').replace(EMULATOR_URL_JSON, (u) => u.replace(/\\\//g, '/') + ' ').match(EMULATOR_URL) ?? [];
    expect(urls.length).toBeGreaterThanOrEqual(20);
    for (const url of new Set(urls)) {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(byMd5.has(md5(Buffer.from(await res.arrayBuffer())))).toBe(true);
    }
    // A PDF becomes a raw URL keeping .pdf (and its #page); a video a video URL.
    expect(after[0]).toMatch(/href="http:\/\/127\.0\.0\.1:\d+\/demo\/raw\/upload\/v\d+\/media\/docs\/manual_[0-9a-z]{6}\.pdf#page=2"/);
    expect(after[0]).toMatch(/<source src="http:\/\/127\.0\.0\.1:\d+\/demo\/video\/upload\/v\d+\/media\/clips\/intro_[0-9a-z]{6}\.mp4\?v=2">/);

    // Each file once: one asset per file, one upload request per file, whatever references it.
    const stats = h.emulator.stats();
    expect(Object.values(stats.createdByPublicId).every((n) => n === 1)).toBe(true);
    expect(stats.uploadRequests).toBe(Object.keys(FILES).length);
    const shared = [...h.emulator.assets.values()].filter((a) => a.publicId.startsWith('media/uploads/shared_'));
    expect(shared).toHaveLength(1);
    expect((await h.rows('shop_productimages'))[0]!.image).toBe(shared[0]!.publicId);

    // MEDIA_TAG only on what a FileField holds: deleteorphanedmedia selects nothing any page needs.
    await h.run(['status']);
    const all = [...h.emulator.assets.values(), ...h.emulator.assetsOf('raw').values(), ...h.emulator.assetsOf('video').values()];
    expect(all.filter((a) => a.tags.includes('media')).map((a) => a.publicId)).toEqual([shared[0]!.publicId]);
    const fileFields = (await h.rows('shop_productimages')).map((x) => x.image as string);
    expect(orphanedMediaSelection(all, { tag: 'media', fileFieldValues: fileFields, resourceTypes: ['image', 'raw', 'video'] })).toEqual(new Set());

    // status says what each source holds; text sources sit beside the file sources with their figures.
    const status = JSON.parse((await h.run(['status', '--json'])).stdout);
    expect(status.sources.map((x: { table: string; media: string }) => `${x.table}:${x.media}`).sort()).toEqual(['blog_page:text', 'shop_productimages:image', 'shop_teaser:text']);
    expect((await h.run(['status'])).stdout).toContain('blog_page.body (text)');

    // The dashboard's lists show a text record by the files it references, not its whole text.
    const AUTH = { user: 'admin', password: 'pw' };
    const world = dashboardDeps(h, AUTH);
    try {
      const built = createDashboardApp(world.deps);
      const missing = await request(built.app).get(`/api/batches/${summary.batch}/records?outcome=missing`).auth(AUTH.user, AUTH.password).expect(200);
      expect(missing.body.records.map((x: { value: string }) => x.value)).toEqual(['uploads/gone.jpg (missing), uploads/a.jpg']);
    } finally {
      await world.close();
    }

    // verify fetches every rewritten reference.
    expect((await h.run(['verify', '--batch', String(summary.batch)])).code).toBe(0);
  });

  it('finishes a row once its missing file is back, and rolls every text back byte for byte, leaving an edited row', async () => {
    const sources = await seed();
    const first = JSON.parse((await h.run(['migrate', '--sources', sources, '--json'])).stdout);
    // report lists each text record's files with what became of them; find locates a path inside text.
    const csv = (await h.run(['report', '--batch', String(first.batch), '--format', 'csv'])).stdout;
    expect(csv.split('\r\n')[0]!.endsWith(',references')).toBe(true);
    expect(csv).toContain('uploads/gone.jpg=missing; uploads/a.jpg=rewritten');
    const found = JSON.parse((await h.run(['find', 'uploads/a.jpg.webp', '--json'])).stdout);
    expect(found.records.map((x: { table: string; pk: string }) => `${x.table}:${x.pk}`)).toContain('blog_page:1');
    await h.file('uploads/gone.jpg', pngBytes(3, 3, 99));
    expect((await h.run(['retry-failed', '--batch', String(first.batch), '--outcome', 'missing'])).code).toBe(0);
    expect((await h.run(['migrate', '--batch', String(first.batch), '--sources', sources])).code).toBe(1);
    const rec = await h.ledger.records.get({ batchId: first.batch, table: 'blog_page', column: 'body', pk: '4' });
    expect(rec).toMatchObject({ outcome: 'migrated', oldValue: MISSING });
    expect(findReferences((await bodies())[3]!, SETTINGS)).toEqual([]);

    // The app edits row 2 after the batch: rollback leaves it and names it; the rest go back exactly.
    await h.db('blog_page').where({ id: 2 }).update({ body: 'edited by a person' });
    const rb = await h.run(['rollback', '--batch', String(first.batch), '--json']);
    expect(rb.code).toBe(0);
    const out = JSON.parse(rb.stdout);
    expect(out.left).toBe(1);
    expect(out.leftRecords).toEqual([{ table: 'blog_page', column: 'body', pk: '2' }]);
    const back = await bodies();
    expect(back).toEqual([HTML, 'edited by a person', JSON_TEXT, MISSING, TRAVERSAL, PLAIN]);
  });

  it('says in a dry run which rows would change and how many references, changing nothing', async () => {
    const sources = await seed();
    const r = JSON.parse((await h.run(['migrate', '--sources', sources, '--dry-run', '--json'])).stdout);
    expect(await bodies()).toEqual(TEXTS);
    expect(h.emulator.stats().uploadRequests).toBe(0);
    const rec = await h.ledger.records.get({ batchId: r.batch, table: 'blog_page', column: 'body', pk: '1' });
    expect(rec).toMatchObject({ outcome: 'migrated', reason: 'would_migrate', detail: 'would rewrite 12 references to 7 files' });
  });

  it('reads a row edited during the rewrite again and redoes it, never clobbering the edit', async () => {
    await seed();
    const config = h.config();
    const real = createCloudinaryUploader(config.cloudinary, config.upload);
    let edits = 0;
    // A person saves the page while its files upload: a sentence added before the first picture.
    const racing: Uploader = {
      ...real,
      async upload(req) {
        if (edits++ === 0) await h.db('blog_page').where({ id: 2 }).update({ body: `New line.\n${MARKDOWN}` });
        return real.upload(req);
      },
    };
    const sources = await checkSources(h.db, [{ table: 'blog_page', column: 'body', pk: 'id', kind: 'text' }]);
    const source = { ...sources[0]!, references: SETTINGS };
    const { batch } = await openBatch(h.ledger, { kind: 'migrate', sources: [source], store: 'public_id', dryRun: false, prefix: 'media/', tag: 'media' });
    const ref = { batchId: batch.id, table: 'blog_page', column: 'body', pk: '2' };
    await h.ledger.records.addPending(batch.id, source, ['2']);
    const result = await textRecord(
      { batch, source, ref },
      { db: h.db, group: new LedgerGroups(h.db, h.ledger), ledger: h.ledger, uploader: racing, mediaRoot: h.mediaRoot, limits: { maxFileBytes: 1e7, keepInMemoryUpToBytes: 1e7 }, cloudName: 'demo', logger: h.logs.logger },
    );
    expect(result.outcome).toBe('migrated');
    const body = String((await h.rows('blog_page')).find((x) => x.id === 2)!.body);
    expect(body.startsWith('New line.\n')).toBe(true);
    const [actual, expected] = shape(`New line.\n${MARKDOWN}`, body);
    expect(actual).toBe(expected);
    expect((await h.ledger.records.get(ref))!.oldValue).toBe(`New line.\n${MARKDOWN}`);
  });

  it('reads and rewrites a JSON column (jsonb on PostgreSQL, JSON on MySQL) as the text it holds; audit sees it too', async () => {
    for (const [name, bytes] of Object.entries(FILES)) await h.file(name, bytes);
    await h.db.schema.createTable('editor_block', (t) => {
      t.bigIncrements('id').primary();
      t.jsonb('data').notNullable();
    });
    const blocks = { blocks: [{ type: 'image', data: { file: { url: '/media/markdownx/ab12.png' } } }], html: '<img src="/media/uploads/a.jpg">' };
    await h.db('editor_block').insert({ id: 1, data: JSON.stringify(blocks) });
    const sources = await h.file('json-sources.json', JSON.stringify({ sources: [{ table: 'editor_block', column: 'data', kind: 'text' }] }));
    const before = JSON.parse((await h.run(['audit', '--sources', sources, '--json'])).stdout);
    expect(before.sources).toEqual([{ table: 'editor_block', column: 'data', kind: 'text', rows: 1, localReferences: 2, missingFiles: 0 }]);

    const r = JSON.parse((await h.run(['migrate', '--sources', sources, '--json'])).stdout);
    expect(r).toMatchObject({ total: 1, migrated: 1, failed: 0 });
    const rec = await h.ledger.records.get({ batchId: r.batch, table: 'editor_block', column: 'data', pk: '1' });
    expect(rec).toMatchObject({ outcome: 'migrated', detail: 'rewrote 2 references to 2 files' });
    const row = (await h.rows('editor_block'))[0]!.data;
    const after = (typeof row === 'string' ? JSON.parse(row) : row) as typeof blocks;
    expect(after.blocks[0]!.data.file.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/demo\/image\/upload\/v\d+\/media\/markdownx\/ab12_[a-z0-9]{6}\.png$/);
    expect(after.html).toMatch(/^<img src="http:\/\/127\.0\.0\.1:\d+\/demo\/image\/upload\/v\d+\/media\/uploads\/a_[a-z0-9]{6}\.[a-z]+">$/);
    const done = JSON.parse((await h.run(['audit', '--sources', sources, '--json'])).stdout);
    expect(done.sources[0]).toMatchObject({ localReferences: 0, missingFiles: 0 });
  });
});
