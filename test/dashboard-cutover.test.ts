import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboardApp } from '../dashboard/app.ts';
import { dashboardDeps } from './helpers/dashboard.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';

/** Stage batches on the dashboard: their kind, their figures, the not-in-place list and its CSV. */

const AUTH = { user: 'operator', password: 'dash-pass-0042' };
let h: Harness;
let world: ReturnType<typeof dashboardDeps>;
let app: ReturnType<typeof createDashboardApp>['app'];
const get = (path: string) => request(app).get(path).auth(AUTH.user, AUTH.password);

beforeAll(async () => {
  h = await createHarness();
  for (let i = 1; i <= 3; i++) await h.file(`p/${i}.png`, pngBytes(3 + i, 2, i));
  await h.file('p/salt & pepper.png', pngBytes(9, 2, 9));
  await h.db('shop_productimages').insert([{ image: 'p/1.png' }, { image: 'p/2.png' }, { image: 'p/3.png' }, { image: 'p/salt & pepper.png' }, { image: 'p/lost.png' }]);
  expect((await h.run(['stage'])).stdout).toContain('✔ STAGED | Staged=3 | Not in place=1 | Missing=1 | Skipped=0 | Failed=0');
  expect((await h.run(['migrate'])).code).toBe(0);
  world = dashboardDeps(h, AUTH);
  app = createDashboardApp(world.deps).app;
});

afterAll(async () => {
  await world?.close();
  await h?.close();
});

describe('stage batches on the dashboard', () => {
  it('answers their kind and figures, and which stage batch a migrate batch rewrites', async () => {
    const { batches } = (await get('/api/batches').expect(200)).body;
    expect(batches.map((b: { batch: number; kind: string }) => [b.batch, b.kind])).toEqual([
      [2, 'migrate'],
      [1, 'stage'],
    ]);
    expect(batches[1]).toMatchObject({ staged: 3, notInPlace: 1, missing: 1, state: 'finished', stageBatch: null });
    expect(batches[0]).toMatchObject({ migrated: 4, stageBatch: 1 });
  });

  it('lists the records not in place with their value and reason, and downloads them as CSV', async () => {
    const page = (await get('/api/batches/1/records?outcome=not_in_place').expect(200)).body;
    expect(page).toMatchObject({ batch: 1, outcome: 'not_in_place', total: 1 });
    expect(page.records[0]).toMatchObject({ value: 'p/salt & pepper.png', reason: 'illegal_characters' });
    const csv = await get('/api/batches/1/records.csv?outcome=not_in_place').expect(200);
    expect(csv.headers['content-disposition']).toContain('media-migrate-batch-1-not_in_place.csv');
    const lines = csv.text.trim().split('\r\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain('not_in_place,illegal_characters');
  });

  it('exports kind and figures in the metrics', async () => {
    const m = (await get('/metrics').expect(200)).text;
    expect(m).toContain('media_migrate_batch_info{batch="1",kind="stage",stage_batch=""} 1');
    expect(m).toContain('media_migrate_batch_info{batch="2",kind="migrate",stage_batch="1"} 1');
    expect(m).toContain('media_migrate_records{batch="1",dry_run="false",table="shop_productimages",column="image",outcome="staged"} 3');
    expect(m).toContain('media_migrate_records{batch="1",dry_run="false",table="shop_productimages",column="image",outcome="not_in_place"} 1');
  });
});
