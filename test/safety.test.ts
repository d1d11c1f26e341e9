import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { migrateRecord } from '../src/records/migrate-record.ts';
import { openBatch, enqueueRecords } from '../src/pipeline/producer.ts';
import { QUEUE_NAME } from '../src/pipeline/queue.ts';
import { defaultSources } from '../src/config/sources.ts';
import { checkSources } from '../src/db/check-sources.ts';
import { createCloudinaryUploader, type Uploader } from '../src/cloudinary/uploader.ts';
import { createHarness, TEST_REDIS_URL, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';
import { LedgerGroups } from '../src/records/ledger-groups.ts';

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

async function seed(n: number, opts: { shared?: number } = {}) {
  for (let i = 1; i <= n; i++) await h.file(`p/${i}.png`, pngBytes(2 + (i % 3), 2, i));
  const rows = Array.from({ length: n }, (_, i) => ({ image: `p/${i + 1}.png` }));
  for (let i = 0; i < (opts.shared ?? 0); i++) rows.push({ image: 'p/1.png' });
  await h.db('shop_productimages').insert(rows);
}

describe('the conditional update', () => {
  // The second change differs only in case: MySQL's default collation would call the values equal.
  it.each([['p/new-by-app.png'], ['P/1.png']])('never overwrites a row the app changed to %s while its file was uploading', async (appValue) => {
    await seed(1);
    const config = h.config();
    const real = createCloudinaryUploader(config.cloudinary, config.upload);
    // The app saves a new picture for this row while our upload is in flight.
    const racing: Uploader = {
      ...real,
      async upload(req) {
        await h.db('shop_productimages').where({ id: 1 }).update({ image: appValue });
        return real.upload(req);
      },
    };
    const sources = await checkSources(h.db, defaultSources('shop'));
    const { batch } = await openBatch(h.ledger, { kind: 'migrate', sources, store: 'public_id', dryRun: false, prefix: 'media/', tag: 'media' });
    await h.ledger.records.addPending(batch.id, sources[0]!, ['1']);
    const result = await migrateRecord(
      { batch, source: sources[0]!, ref: { batchId: batch.id, table: 'shop_productimages', column: 'image', pk: '1' } },
      {
        db: h.db,
        group: new LedgerGroups(h.db, h.ledger),
        ledger: h.ledger,
        uploader: racing,
        mediaRoot: config.mediaRoot,
        limits: { maxFileBytes: 1e7, keepInMemoryUpToBytes: 1e7 },
        cloudName: config.cloudinary.cloudName,
        logger: h.logs.logger,
      },
    );
    real.close();
    expect(result).toMatchObject({ outcome: 'skipped', reason: 'changed' });
    expect((await h.db('shop_productimages').first()).image).toBe(appValue);
    const rec = await h.db('media_migrate_records').first();
    expect(rec).toMatchObject({ outcome: 'skipped', reason: 'changed', old_value: 'p/1.png', new_value: null });
    // The asset nobody points at was removed again.
    expect(h.emulator.stats().created).toBe(1);
    expect(h.emulator.assets.size).toBe(0);
  });
});

describe('running again', () => {
  it('a second run uploads nothing and changes nothing', async () => {
    await seed(6);
    await h.db('shop_productimages').insert({ image: 'p/missing.png' });
    const first = await h.run(['migrate']);
    expect(first.stdout.trim()).toBe('✔ DONE | Migrated=6 | Missing=1 | Skipped=0 | Failed=0');
    const after = await h.rows('shop_productimages');
    const requests = h.emulator.stats().uploadRequests;

    const second = await h.run(['migrate']);
    expect(second.stdout.trim()).toBe('✔ DONE | Migrated=0 | Missing=1 | Skipped=6 | Failed=0');
    expect(h.emulator.stats().uploadRequests).toBe(requests);
    expect(await h.rows('shop_productimages')).toEqual(after);
    const reasons = await h.db('media_migrate_records').where({ batch_id: 2, outcome: 'skipped' }).distinct('reason');
    expect(reasons).toEqual([{ reason: 'already_migrated' }]);
  });

  it('enqueueing the same batch twice adds no job twice', async () => {
    await seed(5);
    const a = await h.run(['enqueue', '--json']);
    const b = await h.run(['enqueue', '--json']);
    expect(JSON.parse(a.stdout)).toMatchObject({ batch: 1, resumed: false, enqueued: 5, pending: 5 });
    // The second hands Redis nothing: the window already holds the batch.
    expect(JSON.parse(b.stdout)).toMatchObject({ batch: 1, resumed: true, enqueued: 0, pending: 5 });
    const conn = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const q = new Queue(QUEUE_NAME, { connection: conn, prefix: h.prefix });
    expect(await q.getWaitingCount()).toBe(5);
    // Job data carries the record's identity only, and its ledger's (several databases may share Redis).
    const jobs = await q.getWaiting();
    expect(Object.keys(jobs[0]!.data).sort()).toEqual(['b', 'c', 'l', 'pk', 't']);
    expect(jobs[0]!.data.l).toBe(h.ledgerId);
    await q.close();
    conn.disconnect();
  });
});

describe('several workers on one batch', () => {
  it('create no duplicate asset, and rows sharing a file share one', async () => {
    await seed(30, { shared: 6 });
    expect((await h.run(['enqueue'])).code).toBe(0);
    const stop = new AbortController();
    const workers = [1, 2, 3].map(() => h.run(['worker', '--concurrency', '4'], { signal: stop.signal }));
    for (let i = 0; i < 200; i++) {
      const st = await h.run(['status', '--json']);
      if (st.code !== 0) throw new Error(`status failed: ${st.stderr}`);
      const s = JSON.parse(st.stdout);
      if (s.pending === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    stop.abort();
    expect((await Promise.all(workers)).map((w) => w.code)).toEqual([0, 0, 0]);
    const s = JSON.parse((await h.run(['status', '--json'])).stdout);
    expect(s).toMatchObject({ total: 36, migrated: 36, pending: 0, failed: 0 });
    const stats = h.emulator.stats();
    expect(stats.created).toBe(30);
    expect(stats.overwritten).toBe(0);
    expect(Math.max(...Object.values(stats.createdByPublicId))).toBe(1);
    const shared = await h.db('shop_productimages').where('id', '>', 30);
    const first = await h.db('shop_productimages').where({ id: 1 }).first();
    expect(new Set(shared.map((r) => r.image))).toEqual(new Set([first.image]));
  });
});

describe('rollback', () => {
  it('restores the table exactly, except rows the app changed since', async () => {
    await seed(8);
    await h.db('shop_productimages').insert([{ image: '' }, { image: 'p/missing.png' }]);
    const before = await h.rows('shop_productimages');
    await h.run(['migrate']);
    await h.db('shop_productimages').where({ id: 3 }).update({ image: 'p/app-changed.png' });

    const r = await h.run(['rollback', '--batch', '1', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ restored: 7, left: 1, leftRecords: [{ table: 'shop_productimages', pk: '3' }] });
    const expected = before.map((row) => (row.id === 3 ? { ...row, image: 'p/app-changed.png' } : row));
    expect(await h.rows('shop_productimages')).toEqual(expected);

    // Without the app's change, migrate → rollback is the identity.
    await h.db('shop_productimages').where({ id: 3 }).update({ image: 'p/3.png' });
    await h.run(['migrate']);
    await h.run(['rollback', '--batch', '2']);
    expect(await h.rows('shop_productimages')).toEqual(before);
  });

  it('prints what it restored and what it left', async () => {
    await seed(2);
    await h.run(['migrate']);
    await h.db('shop_productimages').where({ id: 2 }).update({ image: 'p/other.png' });
    const r = await h.run(['rollback', '--batch', '1']);
    expect(r.stdout).toContain('restored 1 rows, left 1 rows');
    expect(r.stdout).toContain('left shop_productimages.image[pk=2]');
  });
});

describe('secrets', () => {
  it('never reach logs, Redis job data, output or error messages', async () => {
    h.env.DATABASE_URL = h.env.DATABASE_URL!.replace('postgres@', 'postgres:db-pass-7713@');
    await seed(3);
    await h.file('p/text.jpg', 'not an image');
    await h.db('shop_productimages').insert({ image: 'p/text.jpg' });
    const r = await h.run(['migrate'], { env: { LOG_LEVEL: 'trace' } });
    expect(r.stdout).toContain('Migrated=3');
    const secrets = [h.emulator.apiSecret, 'db-pass-7713'];
    const redis = new Redis(TEST_REDIS_URL);
    const keys = await redis.keys(`${h.prefix}:*`);
    let redisText = '';
    for (const k of keys) {
      const type = await redis.type(k);
      if (type === 'hash') redisText += JSON.stringify(await redis.hgetall(k));
      else if (type === 'string') redisText += await redis.get(k);
      else if (type === 'list') redisText += JSON.stringify(await redis.lrange(k, 0, -1));
      else if (type === 'zset') redisText += JSON.stringify(await redis.zrange(k, 0, -1));
      else if (type === 'stream') redisText += JSON.stringify(await redis.xrange(k, '-', '+'));
    }
    redis.disconnect();
    expect(redisText.length).toBeGreaterThan(100);
    const ledgerText = JSON.stringify(await h.db('media_migrate_records')) + JSON.stringify(await h.db('media_migrate_batches'));
    const everything = [r.stdout, r.stderr, h.logs.lines.join('\n'), redisText, ledgerText].join('\n');
    expect(h.logs.lines.length).toBeGreaterThan(5);
    for (const s of secrets) expect(everything).not.toContain(s);

    // Even an error that would quote the setting does not.
    const bad = await h.run(['migrate'], { env: { CLOUDINARY_URL: `https://k:${h.emulator.apiSecret}@x` } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).not.toContain(h.emulator.apiSecret);
  });
});

describe('bad configuration is refused before any upload', () => {
  const cases: [string, Record<string, string>, string[], RegExp][] = [
    ['no MEDIA_ROOT', { MEDIA_ROOT: '' }, ['migrate'], /^media-migrate: MEDIA_ROOT: not set/],
    ['MEDIA_ROOT missing', { MEDIA_ROOT: '/no/such/folder' }, ['migrate'], /MEDIA_ROOT: \/no\/such\/folder does not exist/],
    ['bad CLOUDINARY_URL', { CLOUDINARY_URL: 'cloudinary://nokey@cloud' }, ['migrate'], /CLOUDINARY_URL: expected cloudinary:\/\/API_KEY:API_SECRET@CLOUD_NAME/],
    ['a wrong secret', {}, ['migrate'], /CLOUDINARY_URL: Cloudinary refused the API key or secret/],
    ['an unknown table', {}, ['migrate', '--sources', 'SOURCES'], /source shop_nothing\.image: table "shop_nothing" does not exist/],
    ['Redis unreachable', { REDIS_URL: 'redis://127.0.0.1:1' }, ['migrate'], /^media-migrate: REDIS_URL: cannot connect to Redis at 127\.0\.0\.1:1/],
    ['the database unreachable', { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/x' }, ['migrate'], /^media-migrate: DATABASE_URL: cannot connect to the database/],
    ['a bad --store', {}, ['migrate', '--store', 'blob'], /--store/],
  ];
  // A schema is a PostgreSQL setting; the other databases have none to name.
  if ((process.env.TEST_DB ?? 'pg') === 'pg') {
    cases.push(['a schema that does not exist', { DATABASE_SCHEMA: 'no_such_schema' }, ['migrate'], /^media-migrate: DATABASE_SCHEMA=no_such_schema: no such schema/]);
  }
  for (const [name, env, argv, message] of cases) {
    it(`refuses ${name} with one line and exit code 2`, async () => {
      await seed(2);
      if (name === 'a wrong secret') env.CLOUDINARY_URL = h.emulator.cloudinaryUrl.replace(`:${h.emulator.apiSecret}@`, ':wrong-secret@');
      const sourcesFile = await h.file('sources.json', JSON.stringify({ sources: [{ table: 'shop_nothing', column: 'image' }] }));
      const r = await h.run(argv.map((a) => (a === 'SOURCES' ? sourcesFile : a)), { env });
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(name === 'a bad --store' ? 2 : 1);
      expect(r.stderr).toMatch(message);
      expect(h.emulator.stats().uploadRequests).toBe(0);
      expect(Number((await h.db('media_migrate_batches').count({ n: '*' }))[0]?.n)).toBe(0);
    });
  }
});
