import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardApp } from '../dashboard/app.ts';
import { dashboardDeps } from './helpers/dashboard.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { largePngBytes, pngBytes } from './helpers/images.ts';
import { waitFor } from './helpers/processes.ts';

/** The operator's controls on the dashboard: failures by reason, search, and starting a batch. */

const AUTH = { user: 'operator', password: 'dash-pass-7777' };
let h: Harness;
let world: ReturnType<typeof dashboardDeps>;
let built: ReturnType<typeof createDashboardApp>;
const get = (path: string) => request(built.app).get(path).auth(AUTH.user, AUTH.password);
const post = (path: string) => request(built.app).post(path).auth(AUTH.user, AUTH.password).set('X-CSRF-Token', built.csrfToken).set('Sec-Fetch-Site', 'same-origin');

beforeAll(async () => {
  h = await createHarness();
  for (let i = 1; i <= 5; i++) await h.file(`p/${i}.png`, pngBytes(3 + i, 2, i));
  await h.file('p/big.png', largePngBytes(40_000, 3));
  await h.db('shop_productimages').insert([1, 2, 3, 4, 5].map((i) => ({ image: `p/${i}.png` })));
  await h.db('shop_productimages').insert([{ image: 'p/big.png' }, { image: 'p/lost.png' }]);
  // Two uploads fail for good, one file is too large, one is missing.
  h.emulator.setFaults({ errorRate: 1 });
  await h.run(['migrate', '--limit', '2'], { env: { JOB_ATTEMPTS: '1' } });
  h.emulator.setFaults({ errorRate: 0 });
  await h.run(['migrate'], { env: { MAX_FILE_BYTES: '20000' } });
  world = dashboardDeps(h, AUTH);
  built = createDashboardApp(world.deps);
});

afterAll(async () => {
  await world?.close();
  await h?.close();
});

describe('the failed records by reason', () => {
  it('counts each reason and retries just one', async () => {
    expect((await get('/api/batches/1/reasons?outcome=failed').expect(200)).body).toEqual({ batch: 1, outcome: 'failed', reasons: [{ reason: 'retries_exhausted', count: 2 }] });
    expect((await get('/api/batches/2/reasons?outcome=failed').expect(200)).body.reasons).toEqual([{ reason: 'too_large', count: 1 }]);
    await post('/api/batches/1/retry-failed?reason=timeouts').expect(400);
    const r = await post('/api/batches/1/retry-failed?reason=retries_exhausted').expect(200);
    expect(r.body).toMatchObject({ batch: 1, requeued: 2, byReason: { retries_exhausted: 2 } });
    expect(r.body.message).toMatch(/^Re-queued 2 failed \(retries_exhausted\) records of batch 1\. No worker is connected/);
    const m = await post('/api/batches/2/retry-failed?outcome=missing').expect(200);
    expect(m.body).toMatchObject({ requeued: 1, byOutcome: { missing: 1 } });
  });
});

describe('search', () => {
  it('finds records across batches with their history and asset links', async () => {
    const r = (await get('/api/records?q=shop_productimages:3').expect(200)).body;
    expect(r.kind).toBe('table_pk');
    expect(r.records[0].history.map((e: { batch: number; outcome: string }) => [e.batch, e.outcome])).toEqual([[2, 'migrated']]);
    const url = r.records[0].history[0].url;
    expect(url).toMatch(new RegExp(`^${h.emulator.url}/demo/image/upload/media/p/3_[0-9a-z]{6}$`));
    expect((await fetch(url)).status).toBe(200);
    expect((await get('/api/records?q=big').expect(200)).body.records[0].history[0]).toMatchObject({ outcome: 'failed', reason: 'too_large', url: null });
    await get('/api/records?q=').expect(400);
  });

  it('pages through a table, each record once, with the cursor it answers', async () => {
    const seen: string[] = [];
    let before: number | null = null;
    for (let page = 0; page < 10; page++) {
      const r: { records: { pk: string }[]; next: number | null } = (
        await get(`/api/records?q=shop_productimages&per_page=3${before === null ? '' : `&before=${before}`}`).expect(200)
      ).body;
      seen.push(...r.records.map((x) => x.pk));
      before = r.next;
      if (before === null) break;
    }
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
  });
});

describe('starting a batch', () => {
  it('plans first, refuses without a worker, then enqueues in the background for the workers', async () => {
    const plan = (await get('/api/plan?kind=stage&limit=3').expect(200)).body;
    expect(plan).toMatchObject({ kind: 'stage', records: 3, scope: { limit: 3 }, workers: 0, canStart: false });
    expect(plan.sources).toEqual(['shop_productimages.image', 'shop_bannerimage.image', 'shop_subcategory.image']);
    expect(plan.refusal).toMatch(/^no worker is connected: start one with `media-migrate worker` first/);
    expect((await get('/api/plan?kind=dry_run&only=shop_bannerimage.image').expect(200)).body).toMatchObject({ sources: ['shop_bannerimage.image'], records: 0 });
    await get('/api/plan?kind=sideways').expect(400);

    const refused = await post('/api/batches').send({ kind: 'stage', limit: 3 }).expect(409);
    expect(refused.body.error).toBe('Not started: no worker is connected. Start one with `media-migrate worker` first; the dashboard only enqueues.');

    const stop = new AbortController();
    const worker = h.run(['worker', '--concurrency', '2'], { signal: stop.signal });
    await waitFor('the worker to connect', async () => (await get('/api/plan?kind=stage&limit=3')).body.canStart === true);
    const started = await post('/api/batches').send({ kind: 'stage', limit: 3 }).expect(201);
    expect(started.body).toMatchObject({ batch: 3, kind: 'stage', resumed: false, scope: { limit: 3 } });
    expect(started.body.message).toBe('Started stage batch 3 (the first 3 records (sources in order, each by primary key)); it is being enqueued in the background for 1 worker.');
    await waitFor('the enqueueing', async () => (await get('/api/batches/3/enqueue')).body.state === 'done');
    await waitFor('the batch to finish', async () => (await get('/api/batches/3')).body.state === 'finished', 30_000);
    const overview = (await get('/api/overview?batch=3').expect(200)).body;
    expect(overview.status).toMatchObject({ kind: 'stage', total: 3, scope: { limit: 3 } });
    expect(overview.processes).toHaveLength(1);
    expect(overview.processes[0]).toMatchObject({ state: 'working', concurrency: 2, pid: process.pid });
    stop.abort();
    expect((await worker).code).toBe(0);
  });

  it('says on the overview when recording a batch failed in the background, and how to resume it', async () => {
    // A worker is there, but Redis refuses the jobs (a full Redis answers OOM).
    const queue = Object.assign(Object.create(world.deps.queue) as typeof world.deps.queue, {
      getWorkersCount: async () => 1,
      addBulk: async () => {
        throw new Error('OOM command not allowed when used memory > maxmemory');
      },
    });
    const failing = createDashboardApp({ ...world.deps, queue });
    const started = await request(failing.app)
      .post('/api/batches')
      .auth(AUTH.user, AUTH.password)
      .set('X-CSRF-Token', failing.csrfToken)
      .set('Sec-Fetch-Site', 'same-origin')
      .send({ kind: 'migrate', limit: 2 })
      .expect(201);
    const id = started.body.batch as number;
    const overview = await waitFor('the failure to show', async () => {
      const o = (await request(failing.app).get(`/api/overview?batch=${id}`).auth(AUTH.user, AUTH.password)).body;
      return o.enqueue?.state === 'failed' ? o : undefined;
    });
    expect(overview.enqueue.error).toBe('OOM command not allowed when used memory > maxmemory');
    // The page's own poll of another batch knows nothing of it.
    expect((await get('/api/overview?batch=1').expect(200)).body.enqueue).toBeNull();
  });
});

describe('a worker that cannot see the media', () => {
  it('shows on the overview as refusing, with the line it logged', async () => {
    // An open batch, recorded here with its MEDIA_ROOT fingerprint.
    const e = JSON.parse((await h.run(['enqueue', '--limit', '1', '--json'])).stdout) as { batch: number };
    const elsewhere = await mkdtemp(join(tmpdir(), 'mm-unmounted-'));
    const stop = new AbortController();
    const blind = h.run(['worker', '--concurrency', '1'], { env: { MEDIA_ROOT: elsewhere }, signal: stop.signal });
    try {
      const refusing = await waitFor('the worker to show as refusing', async () => {
        const o = (await get(`/api/overview?batch=${e.batch}`).expect(200)).body;
        return o.processes.find((p: { state: string }) => p.state === 'refusing');
      });
      expect(refusing.detail).toMatch(new RegExp(`^MEDIA_ROOT=${elsewhere}: this machine cannot see p/[^ ]+\\.png, one of batch ${e.batch}'s files; it refuses the batch's jobs`));
    } finally {
      stop.abort();
      await blind;
      await rm(elsewhere, { recursive: true, force: true });
    }
  });
});
