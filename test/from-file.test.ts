import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';

/** The report feeds the next run: `retry-failed --from FILE` and `migrate --from FILE`. */

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
  for (let i = 1; i <= 6; i++) await h.file(`p/${i}.png`, pngBytes(3 + i, 2, i));
  await h.db('shop_productimages').insert([1, 2, 3, 4, 5, 6].map((i) => ({ image: `p/${i}.png` })));
  await h.db('shop_productimages').insert([{ image: 'p/gone-7.png' }, { image: 'p/gone-8.png' }]);
});
afterEach(async () => {
  await h.close();
});

describe('--from FILE', () => {
  it('retry-failed --from re-runs exactly the rows a filtered report keeps', async () => {
    h.emulator.setFaults({ errorRate: 1 });
    expect(JSON.parse((await h.run(['migrate', '--json'], { env: { JOB_ATTEMPTS: '1' } })).stdout)).toMatchObject({ failed: 6, missing: 2 });
    h.emulator.setFaults({ errorRate: 0 });
    const report = (await h.run(['report', '--batch', '1', '--format', 'csv'])).stdout.trim().split('\r\n');
    // The operator keeps, in a spreadsheet, the header, two failures and one missing file.
    const kept = [report[0], ...report.slice(1).filter((l) => /,(1|3|8),(failed|missing),/.test(l))];
    expect(kept).toHaveLength(4);
    const file = await h.file('picked.csv', kept.join('\r\n') + '\r\n');
    const r = await h.run(['retry-failed', '--from', file, '--json']);
    expect(JSON.parse(r.stdout)).toEqual({ batch: 1, requeued: 3, byOutcome: { failed: 2, missing: 1 }, byReason: { retries_exhausted: 2, not_found: 1 }, otherBatches: 0 });
    await h.run(['migrate', '--batch', '1']);
    const byPk = Object.fromEntries((await h.db('media_migrate_records').where({ batch_id: 1 })).map((x) => [x.pk, x.outcome]));
    expect(byPk).toEqual({ '1': 'migrated', '2': 'failed', '3': 'migrated', '4': 'failed', '5': 'failed', '6': 'failed', '7': 'missing', '8': 'missing' });
    // One line naming the file and line when a line makes no sense.
    const bad = await h.file('bad.csv', 'shop_productimages,1\nnot a table!,2\n');
    const e = await h.run(['retry-failed', '--from', bad]);
    expect(e.code).toBe(2);
    expect(e.stderr.trim()).toBe(`media-migrate: --from ${bad}: line 2: expected a table name, got "not a table!"`);
  });

  it('migrate --from runs a new batch of exactly the listed rows, and says so', async () => {
    const file = await h.file('rows.txt', 'shop_productimages,2\nshop_productimages,5\nshop_bannerimage,1\nno_such_table,9\n');
    const r = await h.run(['migrate', '--from', file, '--json']);
    // shop_bannerimage has no row 1: recorded, and skipped as row_deleted; no_such_table is no source.
    expect(JSON.parse(r.stdout)).toMatchObject({ batch: 1, total: 3, migrated: 2, skipped: 1, scope: { from: { file, rows: 4 } } });
    expect((await h.db('media_migrate_records').where({ batch_id: 1 }).orderBy('id')).map((x) => `${x.source_table}:${x.pk}:${x.reason}`)).toEqual([
      'shop_productimages:2:uploaded',
      'shop_productimages:5:uploaded',
      'shop_bannerimage:1:row_deleted',
    ]);
    expect(h.logs.lines.some((l) => l.includes('1 listed rows are of no source of the batch (e.g. no_such_table:9)'))).toBe(true);
    expect(JSON.parse((await h.run(['status', '--json'])).stdout).scopeText).toBe(`the 4 rows listed in ${file}`);
    const combined = await h.run(['migrate', '--from', file, '--limit', '3']);
    expect(combined.code).toBe(2);
    expect(combined.stderr.trim()).toBe('media-migrate: --from: the file says which rows; drop --limit, --pk-from and --pk-to');
  });

  it('each takes either form: retry-failed --from plain table,pk lines, migrate --from a filtered report', async () => {
    h.emulator.setFaults({ errorRate: 1 });
    await h.run(['migrate'], { env: { JOB_ATTEMPTS: '1' } });
    h.emulator.setFaults({ errorRate: 0 });
    const lines = await h.file('lines.txt', 'shop_productimages,2\nshop_productimages,7\n');
    const r = await h.run(['retry-failed', '--from', lines, '--json']);
    expect(JSON.parse(r.stdout)).toEqual({ batch: 1, requeued: 2, byOutcome: { failed: 1, missing: 1 }, byReason: { retries_exhausted: 1, not_found: 1 }, otherBatches: 0 });

    const report = (await h.run(['report', '--batch', '1', '--format', 'csv'])).stdout.trim().split('\r\n');
    const kept = [report[0], ...report.slice(1).filter((l) => /,(4|5),failed,/.test(l))];
    const csv = await h.file('failed-4-5.csv', kept.join('\r\n') + '\r\n');
    const m = await h.run(['migrate', '--from', csv, '--json']);
    expect(JSON.parse(m.stdout)).toMatchObject({ batch: 2, total: 2, migrated: 2, scope: { from: { file: csv, rows: 2 } } });
    expect((await h.db('media_migrate_records').where({ batch_id: 2 }).orderBy('id')).map((x) => x.pk)).toEqual(['4', '5']);
  });
});
