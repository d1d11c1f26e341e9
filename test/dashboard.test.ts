import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardApp } from '../dashboard/app.ts';
import type { DashboardDeps } from '../dashboard/deps.ts';
import { pace } from '../dashboard/figures.ts';
import { dashboardCommand } from '../src/cli/dashboard.ts';
import { Counter, bump } from '../src/pipeline/counters.ts';
import { createQueue, redisConnection } from '../src/pipeline/queue.ts';
import { dashboardDeps } from './helpers/dashboard.ts';
import { createHarness, TEST_REDIS_URL, type Harness } from './helpers/harness.ts';
import { gifBytes, pngBytes } from './helpers/images.ts';

/**
 * The dashboard's HTTP contract, one piece: every route, auth, CSRF and the secrets sweep run against one
 * real batch, so the sweeps cover every route listed here and none is forgotten in another file.
 */

/**
 * The dashboard's HTTP surface against a real batch: real PostgreSQL ledger, real Redis queue,
 * a real `migrate` run through the emulator. Each route is checked for auth, CSRF and its figures.
 */

const USER = 'operator';
const PASSWORD = 'dash-pass-5521';
const DB_PASSWORD = 'db-pass-8841';

let h: Harness;
let world: ReturnType<typeof dashboardDeps>;
let deps: DashboardDeps;
let server: Server;
let origin: string;
let token: string;

const listen = async (app: Parameters<typeof request>[0] & object): Promise<Server> =>
  new Promise((resolve) => {
    const s = (app as unknown as { listen: (port: number, host: string, cb: () => void) => Server }).listen(0, '127.0.0.1', () => resolve(s));
  });

/** An authenticated request on the shared server. */
const as = () => request(server);
const get = (path: string) => as().get(path).auth(USER, PASSWORD);
const post = (path: string) => as().post(path).auth(USER, PASSWORD);

beforeAll(async () => {
  h = await createHarness();
  // Trust auth: any password works, and now it is one that must never be shown.
  h.env.DATABASE_URL = h.env.DATABASE_URL!.replace('postgres@', `postgres:${DB_PASSWORD}@`);
  for (let i = 1; i <= 6; i++) await h.file(`p/${i}.png`, pngBytes(3 + (i % 3), 2, i));
  await h.file('p/notes.jpg', 'a text file, not an image\n');
  await h.file('b/1.gif', gifBytes(4, 4, 1));
  await h.db('shop_productimages').insert([
    ...Array.from({ length: 6 }, (_, i) => ({ image: `p/${i + 1}.png` })),
    { image: 'p/notes.jpg' }, // failed: not_an_image
    { image: 'p/lost.png' }, // missing
    { image: '' }, // skipped: empty
  ]);
  await h.db('shop_bannerimage').insert([{ image: 'b/1.gif' }, { image: 'b/lost.gif' }]);
  const r = await h.run(['migrate']);
  expect(r.stdout.trim()).toBe('✖ DONE | Migrated=7 | Missing=2 | Skipped=1 | Failed=1');

  world = dashboardDeps(h, { user: USER, password: PASSWORD });
  deps = world.deps;
  const built = createDashboardApp(deps);
  token = built.csrfToken;
  server = await listen(built.app);
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  server?.closeAllConnections();
  await world?.close();
  await h?.close();
});

const READ_ROUTES = [
  '/',
  '/index.html',
  '/app.js',
  '/style.css',
  '/api/session',
  '/api/overview',
  '/api/batches',
  '/api/batches/1',
  '/api/batches/latest',
  '/api/batches/1/records?outcome=failed',
  '/api/batches/1/records?outcome=missing',
  '/api/batches/1/records.csv?outcome=failed',
  '/api/batches/1/records.csv?outcome=missing',
  '/api/batches/1/reasons?outcome=failed',
  '/api/batches/1/enqueue',
  '/api/records?q=p',
  '/api/plan?kind=dry_run',
  '/metrics',
  '/healthz',
  '/queues',
  '/queues/',
  '/queues/api/queues?activeQueue=media-migrate&status=latest&page=1&jobsPerPage=50',
  '/queues/api/queues?activeQueue=media-migrate&status=failed&page=1&jobsPerPage=50',
  '/queues/api/redis/stats',
];

describe('authentication', () => {
  it('every route answers 401 with a basic-auth challenge without the right credentials', async () => {
    const unsafe: [string, string][] = [
      ['post', '/api/batches/1/retry-failed'],
      ['post', '/api/batches/1/dry-run'],
      ['post', '/api/batches'],
      ['post', '/api/batches/1/retry-failed?reason=not_an_image'],
      ['put', '/queues/api/queues/media-migrate/retry/failed'],
      ['put', '/queues/api/queues/media-migrate/pause'],
      ['get', '/no/such/page'],
    ];
    for (const [method, path] of [...READ_ROUTES.map((p) => ['get', p] as [string, string]), ...unsafe]) {
      const call = (as() as unknown as Record<string, (p: string) => request.Test>)[method]!.bind(as());
      const none = await call(path);
      expect(none.status, `${method} ${path}`).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Basic realm=/);
      const wrong = await call(path).auth(USER, 'not-the-password');
      expect(wrong.status, `${method} ${path} (wrong password)`).toBe(401);
      const wrongUser = await call(path).auth('admin', PASSWORD);
      expect(wrongUser.status, `${method} ${path} (wrong user)`).toBe(401);
    }
    expect(h.emulator.stats().uploadRequests).toBe(7);
  });

  it('with them, every read route answers', async () => {
    for (const path of READ_ROUTES) {
      const r = await get(path);
      expect(r.status, path).toBe(200);
    }
  });
});

describe('the figures', () => {
  it('GET /api/batches/:id is exactly what status --json prints', async () => {
    const cli = JSON.parse((await h.run(['status', '--batch', '1', '--json'])).stdout);
    const api = (await get('/api/batches/1').expect(200).expect('content-type', /json/)).body;
    expect(api).toEqual(cli);
    expect(api).toMatchObject({ batch: 1, total: 11, migrated: 7, missing: 2, skipped: 1, failed: 1, pending: 0, state: 'finished' });
    expect((await get('/api/batches/latest')).body).toEqual(cli);
    const list = (await get('/api/batches')).body;
    expect(list.batches).toEqual([cli]);
    expect((await get('/api/batches/9')).status).toBe(404);
    expect((await get('/api/batches/x')).body).toEqual({ error: 'batch: expected a positive integer' });
  });

  it('a breakdown per source table', async () => {
    const { sources } = (await get('/api/batches/1')).body;
    expect(sources).toEqual(
      expect.arrayContaining([
        { table: 'shop_productimages', column: 'image', media: 'image', total: 9, migrated: 6, missing: 1, skipped: 1, failed: 1, pending: 0, staged: 0, notInPlace: 0 },
        { table: 'shop_bannerimage', column: 'image', media: 'image', total: 2, migrated: 1, missing: 1, skipped: 0, failed: 0, pending: 0, staged: 0, notInPlace: 0 },
      ]),
    );
  });

  it('GET /api/overview adds the pace, the ETA and the queue behind the batch', async () => {
    const o = (await get('/api/overview').expect(200)).body;
    expect(o.status).toMatchObject({ batch: 1, migrated: 7, failed: 1 });
    expect(o.throughput.perMinute).toHaveLength(15);
    // Every record finished within the last minute.
    expect(o.throughput.perMinute.at(-1)).toBe(11);
    expect(o.throughput.ratePerMinute).toBeGreaterThan(0);
    expect(o.throughput.etaSeconds).toBeNull();
    expect(o.queue).toMatchObject({ workers: 0, paused: false });
    expect(o.queue.counts).toMatchObject({ completed: 10, failed: 1, waiting: 0 });
    expect((await get('/api/overview?batch=1')).body.status).toEqual(o.status);
  });

  it('pace: records per minute over the last minute, and the ETA for what is pending', () => {
    expect(pace(120, 60_000, 600)).toEqual({ ratePerMinute: 120, etaSeconds: 300 });
    // Started (or resumed) 30 s ago and 50 done since: 100 a minute, not 50.
    expect(pace(50, 30_000, 100)).toEqual({ ratePerMinute: 100, etaSeconds: 60 });
    // One record done a moment ago is not a flood.
    expect(pace(1, 10, 100)).toEqual({ ratePerMinute: 30, etaSeconds: 200 });
    expect(pace(0, 0, 100)).toEqual({ ratePerMinute: 0, etaSeconds: null });
    expect(pace(10, 60_000, 0)).toEqual({ ratePerMinute: 10, etaSeconds: null });
  });

  it('lists the failed and missing records with their reasons, a page at a time', async () => {
    const failed = (await get('/api/batches/1/records?outcome=failed')).body;
    expect(failed).toMatchObject({ batch: 1, outcome: 'failed', total: 1, page: 1, pages: 1 });
    expect(failed.records).toEqual([
      expect.objectContaining({ table: 'shop_productimages', column: 'image', pk: '7', reason: 'not_an_image', value: 'p/notes.jpg' }),
    ]);
    const missing1 = (await get('/api/batches/1/records?outcome=missing&per_page=1&page=1')).body;
    const missing2 = (await get('/api/batches/1/records?outcome=missing&per_page=1&page=2')).body;
    expect([missing1.total, missing1.pages, missing2.page]).toEqual([2, 2, 2]);
    expect([...missing1.records, ...missing2.records].map((r: { value: string; reason: string }) => [r.value, r.reason])).toEqual([
      ['p/lost.png', 'not_found'],
      ['b/lost.gif', 'not_found'],
    ]);
    expect((await get('/api/batches/1/records?outcome=nonsense')).status).toBe(400);
  });

  it('downloads each list as CSV', async () => {
    const r = await get('/api/batches/1/records.csv?outcome=missing').expect(200);
    expect(r.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(r.headers['content-disposition']).toBe('attachment; filename="media-migrate-batch-1-missing.csv"');
    const lines = r.text.trim().split('\r\n');
    expect(lines[0]).toBe('batch,table,column,pk,outcome,reason,detail,old_value,new_value,public_id,etag,bytes,attempts,finished_at,rolled_back_at,references');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^1,shop_productimages,image,8,missing,not_found,.*,p\/lost\.png,,,,,\d+,\d{4}-[^,]+,,$/);
    const failed = (await get('/api/batches/1/records.csv?outcome=failed')).text;
    expect(failed).toContain(',failed,not_an_image,');
  });
});

describe('bull-board at /queues', () => {
  it('serves the board, linked to the summary page', async () => {
    const page = await get('/queues').expect(200);
    expect(page.headers['content-type']).toMatch(/html/);
    const config = JSON.parse(/<script id="__UI_CONFIG__" type="application\/json">(.*?)<\/script>/s.exec(page.text)![1]!);
    expect(config).toMatchObject({ boardTitle: 'media-migrate', miscLinks: [{ text: expect.stringMatching(/summary/i), url: '../' }] });
    expect((await get('/queues/static/favicon-32x32.png')).status).toBe(200);
  });

  it("carries the ledger's figures in the queue's name and description, and each job's outcome and reason", async () => {
    const latest = (await get('/queues/api/queues?activeQueue=media-migrate&status=completed&page=1&jobsPerPage=50').expect(200)).body;
    const q = latest.queues.find((x: { name: string }) => x.name === 'media-migrate');
    expect(q.displayName).toBe('media-migrate · batch 1 · 100%');
    expect(q.description).toMatch(/^Batch 1 finished: migrated 7 · missing 2 · skipped 1 · failed 1 · pending 0 of 11/);
    expect(q.readOnlyMode).toBe(false);
    expect(q.jobs).toHaveLength(10);
    const outcomes = q.jobs.map((j: { returnValue: { outcome: string; reason: string } }) => `${j.returnValue.outcome}/${j.returnValue.reason}`).sort();
    expect(outcomes).toEqual([...Array(7).fill('migrated/uploaded'), 'missing/not_found', 'missing/not_found', 'skipped/empty'].sort());
    expect(q.jobs.map((j: { name: string }) => j.name)).toContain('shop_productimages.image pk=1');
    const failed = (await get('/queues/api/queues?activeQueue=media-migrate&status=failed&page=1&jobsPerPage=50')).body;
    const fq = failed.queues.find((x: { name: string }) => x.name === 'media-migrate');
    expect(fq.jobs).toEqual([expect.objectContaining({ failedReason: expect.stringContaining('not_an_image') })]);
  });
});

describe('GET /metrics', () => {
  it('reports records by outcome and source, upload times, retries, rate-limit pauses and queue depth', async () => {
    await bump(deps.redis, h.prefix, Counter.retried);
    await bump(deps.redis, h.prefix, Counter.retried);
    await bump(deps.redis, h.prefix, Counter.rateLimited);
    const r = await get('/metrics').expect(200);
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const m = r.text;
    expect(m).toContain('media_migrate_records{batch="1",dry_run="false",table="shop_productimages",column="image",outcome="migrated"} 6');
    expect(m).toContain('media_migrate_records{batch="1",dry_run="false",table="shop_productimages",column="image",outcome="failed"} 1');
    expect(m).toContain('media_migrate_records{batch="1",dry_run="false",table="shop_bannerimage",column="image",outcome="missing"} 1');
    expect(m).toContain('media_migrate_latest_batch 1');
    expect(m).toContain('# TYPE media_migrate_upload_duration_seconds histogram');
    expect(m).toContain('media_migrate_upload_duration_seconds_bucket{le="+Inf",batch="1"} 7');
    expect(m).toContain('media_migrate_upload_duration_seconds_count{batch="1"} 7');
    expect(m).toMatch(/media_migrate_upload_duration_seconds_sum\{batch="1"\} \d/);
    const buckets = [...m.matchAll(/media_migrate_upload_duration_seconds_bucket\{le="([^"]+)",batch="1"\} (\d+)/g)].map((x) => Number(x[2]));
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b)); // cumulative
    expect(m).toContain('media_migrate_retries_total 2');
    expect(m).toContain('media_migrate_rate_limit_pauses_total 1');
    expect(m).toContain('media_migrate_database_waits_total 0');
    expect(m).toContain('media_migrate_queue_jobs{state="completed"} 10');
    expect(m).toContain('media_migrate_queue_jobs{state="failed"} 1');
    expect(m).toContain('media_migrate_workers 0');
  });

  it('each app has its own registry', async () => {
    const other = createDashboardApp(deps).app;
    const r = await request(other).get('/metrics').auth(USER, PASSWORD).expect(200);
    expect(r.text).toContain('media_migrate_retries_total 2');
  });
});

describe('GET /healthz', () => {
  it('says ok when Redis and the database answer, 503 and which one when not', async () => {
    expect((await get('/healthz').expect(200)).body).toEqual({ ok: true, database: 'ok', redis: 'ok' });
    const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    dead.on('error', () => {});
    const app = createDashboardApp({ ...deps, redis: dead }).app;
    const r = await request(app).get('/healthz').auth(USER, PASSWORD);
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ ok: false, database: 'ok', redis: expect.stringMatching(/^error/) });
    dead.disconnect();
  });
});

describe('Redis down', () => {
  it("the page still gets the ledger's figures, and is told the queue's are unknown", async () => {
    const config = h.config();
    const dead = redisConnection({ ...config.redis, url: 'redis://127.0.0.1:1' }, { retryStrategy: () => 500 });
    dead.on('error', () => {});
    const deadQueue = createQueue(config.redis, dead, config.upload);
    deadQueue.on('error', () => {});
    const app = createDashboardApp({ ...deps, queue: deadQueue }).app;
    const started = Date.now();
    const o = (await request(app).get('/api/overview').auth(USER, PASSWORD).expect(200)).body;
    expect(Date.now() - started).toBeLessThan(6_000);
    expect(o.status).toMatchObject({ batch: 1, migrated: 7, missing: 2 });
    expect(o.queue).toEqual({ counts: {}, workers: null, paused: false, unavailable: 'Redis is not answering' });
    dead.disconnect();
  });
});

describe('secrets', () => {
  it('never appear in a page, an API answer, a CSV or the metrics', async () => {
    const secrets = [h.emulator.apiSecret, DB_PASSWORD, PASSWORD];
    expect(deps.secrets).toEqual(expect.arrayContaining([h.emulator.apiSecret, DB_PASSWORD]));
    // Even an error message that quoted one (here planted in a record's detail) is scrubbed.
    await h.db('media_migrate_records').where({ outcome: 'failed' }).update({ detail: `upload said ${h.emulator.apiSecret} and ${DB_PASSWORD}` });
    let all = '';
    for (const path of READ_ROUTES) all += (await get(path)).text;
    for (const s of secrets) expect(all).not.toContain(s);
    expect(all).toContain('upload said [REDACTED] and [REDACTED]');
    // A secret with a quote or a backslash is escaped inside JSON; it is caught there too.
    const odd = 'pa"ss\\word-99';
    await h.db('media_migrate_records').where({ outcome: 'failed' }).update({ detail: `refused ${odd}` });
    const app = createDashboardApp({ ...deps, secrets: [...deps.secrets, odd] }).app;
    const answer = (await request(app).get('/api/batches/1/records?outcome=failed').auth(USER, PASSWORD)).text;
    expect(answer).toContain('refused [REDACTED]');
    expect(answer).not.toContain('ss\\\\word');
    await h.db('media_migrate_records').where({ outcome: 'failed' }).update({ detail: '"p/notes.jpg" is not an image' });
  });
});

describe('CSRF', () => {
  it('refuses our actions without the page token, or from another origin even with it', async () => {
    const path = '/api/batches/1/retry-failed';
    expect((await post(path).set('Origin', origin)).status).toBe(403);
    expect((await post(path).set('X-CSRF-Token', 'guess')).status).toBe(403);
    const evil = await post(path).set('X-CSRF-Token', token).set('Origin', 'http://evil.example');
    expect(evil.status).toBe(403);
    expect(evil.body.error).toMatch(/cross-origin/);
    expect((await post(path).set('X-CSRF-Token', token).set('Sec-Fetch-Site', 'cross-site')).status).toBe(403);
    expect((await post(path).set('X-CSRF-Token', token).set('Origin', 'null')).status).toBe(403);
    expect((await post('/api/batches/1/dry-run').set('Sec-Fetch-Site', 'same-site')).status).toBe(403);
    // The newer actions alike: a retry of one reason, and starting a batch.
    expect((await post('/api/batches/1/retry-failed?reason=not_an_image').set('Origin', origin)).status).toBe(403);
    expect((await post('/api/batches/1/retry-failed?outcome=missing').set('X-CSRF-Token', token).set('Origin', 'http://evil.example')).status).toBe(403);
    expect((await post('/api/batches').set('Origin', origin).send({ kind: 'dry_run' })).status).toBe(403);
    expect((await post('/api/batches').set('X-CSRF-Token', token).set('Sec-Fetch-Site', 'cross-site').send({ kind: 'dry_run' })).status).toBe(403);
    // Nothing happened.
    expect((await get('/api/batches/1')).body).toMatchObject({ failed: 1, pending: 0 });
    expect(await h.ledger.batches.list()).toHaveLength(1);
  });

  it("refuses bull-board's own state-changing calls unless the browser says they are same-origin", async () => {
    const path = '/queues/api/queues/media-migrate/pause';
    expect((await as().put(path).auth(USER, PASSWORD)).status).toBe(403);
    expect((await as().put(path).auth(USER, PASSWORD).set('Origin', 'http://evil.example')).status).toBe(403);
    expect((await as().put(path).auth(USER, PASSWORD).set('Sec-Fetch-Site', 'cross-site')).status).toBe(403);
    expect(await deps.queue.isPaused()).toBe(false);
    // What the board's own fetch calls send.
    expect((await as().put(path).auth(USER, PASSWORD).set('Origin', origin).set('Sec-Fetch-Site', 'same-origin')).status).toBeLessThan(300);
    expect(await deps.queue.isPaused()).toBe(true);
    expect((await as().put('/queues/api/queues/media-migrate/resume').auth(USER, PASSWORD).set('Origin', origin)).status).toBeLessThan(300);
    expect(await deps.queue.isPaused()).toBe(false);
  });
});

describe('actions', () => {
  it('"Retry failed" re-queues exactly the failed records, as retry-failed does', async () => {
    const r = await post('/api/batches/1/retry-failed').set('X-CSRF-Token', token).set('Origin', origin).expect(200);
    expect(r.body).toMatchObject({ batch: 1, requeued: 1, workers: 0 });
    expect(r.body.message).toMatch(/^Re-queued 1 failed record of batch 1\. No worker is connected/);
    expect((await get('/api/batches/1')).body).toMatchObject({ failed: 0, pending: 1, state: 'running' });
    expect((await deps.queue.getJobCounts()).waiting).toBe(1);
    const again = await post('/api/batches/1/retry-failed').set('X-CSRF-Token', token).expect(200);
    expect(again.body).toMatchObject({ requeued: 0, message: 'Batch 1 has no failed records.' });
  });

  it('"Start a dry run" enqueues a dry-run batch with the same settings, which workers then classify', async () => {
    const uploads = h.emulator.stats().uploadRequests;
    const rowsBefore = await h.db('shop_productimages').orderBy('id');
    const r = await post('/api/batches/1/dry-run').set('X-CSRF-Token', token).set('Sec-Fetch-Site', 'same-origin').expect(201);
    expect(r.body).toMatchObject({ batch: 2, fromBatch: 1, resumed: false, enqueued: 11 });
    expect(r.body.message).toMatch(/^Started dry run batch 2 \(settings of batch 1\): 11 records enqueued\./);
    const b1 = await h.ledger.batches.get(1);
    const b2 = await h.ledger.batches.get(2);
    expect(b2).toMatchObject({ dryRun: true, sources: b1!.sources, store: b1!.store, prefix: b1!.prefix, tag: b1!.tag });

    const stop = new AbortController();
    const worker = h.run(['worker', '--concurrency', '4'], { signal: stop.signal });
    let s = (await get('/api/batches/2')).body;
    for (let i = 0; i < 150 && s.pending > 0; i++) {
      await new Promise((res) => setTimeout(res, 100));
      s = (await get('/api/batches/2')).body;
    }
    const seen = (await get('/api/overview?batch=2')).body.queue.workers;
    stop.abort();
    expect((await worker).code).toBe(0);
    expect(seen).toBe(1);
    // Rows already migrated by batch 1 are skipped as already_migrated; nothing is uploaded or written.
    expect(s).toMatchObject({ batch: 2, dryRun: true, state: 'finished', pending: 0, total: 11 });
    expect(h.emulator.stats().uploadRequests).toBe(uploads);
    expect(await h.db('shop_productimages').orderBy('id')).toEqual(rowsBefore);
    const list = (await get('/api/batches')).body.batches.map((b: { batch: number; dryRun: boolean }) => [b.batch, b.dryRun]);
    expect(list).toEqual([
      [2, true],
      [1, false],
    ]);
  });
});

describe('read-only mode', () => {
  it('hides the actions, refuses them with 403 and makes bull-board read-only', async () => {
    const { app, csrfToken } = createDashboardApp({ ...deps, readOnly: true });
    const ro = await listen(app);
    const o = `http://127.0.0.1:${(ro.address() as AddressInfo).port}`;
    try {
      expect((await request(ro).get('/api/session').auth(USER, PASSWORD)).body).toMatchObject({ readOnly: true });
      for (const path of ['/api/batches/1/retry-failed', '/api/batches/1/retry-failed?reason=not_an_image', '/api/batches/1/retry-failed?outcome=missing', '/api/batches/1/dry-run', '/api/batches']) {
        const r = await request(ro).post(path).auth(USER, PASSWORD).set('X-CSRF-Token', csrfToken).set('Origin', o);
        expect(r.status).toBe(403);
        expect(r.body.error).toMatch(/read-only/);
      }
      const put = await request(ro).put('/queues/api/queues/media-migrate/pause').auth(USER, PASSWORD).set('Origin', o).set('Sec-Fetch-Site', 'same-origin');
      expect(put.status).toBe(403);
      expect(await deps.queue.isPaused()).toBe(false);
      const board = (await request(ro).get('/queues/api/queues?activeQueue=media-migrate&status=latest&page=1&jobsPerPage=5').auth(USER, PASSWORD)).body;
      expect(board.queues[0]).toMatchObject({ readOnlyMode: true, allowRetries: false });
      expect(await h.ledger.batches.list()).toHaveLength(2);
    } finally {
      ro.close();
      ro.closeAllConnections();
    }
  });
});

describe('media-migrate dashboard', () => {
  it('refuses a non-loopback address without DASHBOARD_PASSWORD, with one line and exit code 2', async () => {
    const r = await h.run(['dashboard', '--host', '0.0.0.0', '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^media-migrate: DASHBOARD_PASSWORD: not set; the dashboard will not listen on 0\.0\.0\.0/);
  });

  it('on loopback without a password, serves with a one-time password it prints, until stopped', async () => {
    let out = '';
    const stdout = new Writable({ write: (c, _e, cb) => ((out += c.toString()), cb()) });
    const stop = new AbortController();
    const running = dashboardCommand(
      { port: 0, host: '127.0.0.1' },
      { env: h.env, stdout, stderr: stdout, isTTY: false, logger: h.logs.logger, signal: stop.signal },
    );
    for (let i = 0; i < 100 && !/one-time password \S+/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    const url = /Dashboard: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1];
    const password = /one-time password (\S+)/.exec(out)?.[1];
    expect(url).toBeDefined();
    expect(password).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect((await fetch(`${url}/healthz`)).status).toBe(401);
    const ok = await fetch(`${url}/healthz`, { headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` } });
    expect(await ok.json()).toEqual({ ok: true, database: 'ok', redis: 'ok' });
    stop.abort();
    expect(await running).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('is listed with an example in --help', async () => {
    const r = await h.run(['dashboard', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--read-only');
    expect(r.stdout).toContain('DASHBOARD_PASSWORD=change-me media-migrate dashboard --port 3000');
  });
});

describe('the README\'s curl example of a POST', () => {
  const hasTools = ['curl', 'jq'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);
  it('works as written: the token from GET /api/session, sent in X-CSRF-Token', async () => {
    if (!hasTools) throw new Error('the README example needs curl and jq: apt-get install -y curl jq, as .ci/run does');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/^ {2}/gm, '')).find((b) => b.includes('api/session'));
    expect(block).toBeDefined();
    expect(block).toContain('X-CSRF-Token: $TOKEN');
    const script = block!.replaceAll('http://127.0.0.1:3000', origin).replace('/api/batches/3/', '/api/batches/1/').replaceAll('admin:', `${USER}:`);
    // Not spawnSync: the server answering curl runs in this very process.
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile('bash', ['--norc', '--noprofile', '-c', `set -euo pipefail\n${script}`], { env: { PATH: process.env.PATH, DASHBOARD_PASSWORD: PASSWORD }, timeout: 20_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ batch: 1, requeued: 0 });
    // The same POST without the token is refused, as the README says.
    const bare = await post('/api/batches/1/retry-failed?reason=retries_exhausted');
    expect(bare.status).toBe(403);
    expect(bare.body).toEqual({ error: 'missing or wrong X-CSRF-Token' });
  });
});
