import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';
import { searchRecords } from '../src/ledger/search.ts';

/** `find`: any record across batches, by table, table:pk, or a piece of its path or public_id. */

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
  const files = ['p/shoe.png', 'p/boot.png', 'p/sandal_red.png', 'p/sandalxred.png', 'p/50%.png'];
  for (const [i, f] of files.entries()) await h.file(f, pngBytes(3 + i, 3, i));
  await h.db('shop_productimages').insert(files.map((image) => ({ image })));
  await h.file('b/top.png', pngBytes(9, 2, 9));
  await h.db('shop_bannerimage').insert([{ image: 'b/top.png' }, { image: 'b/lost.png' }]);
  // A canary, then the rest: the first records have two batches of history.
  expect((await h.run(['migrate', '--limit', '2'])).code).toBe(0);
  expect((await h.run(['migrate'])).code).toBe(0);
});
afterEach(async () => {
  await h.close();
});

type Found = { table: string; column: string; pk: string; history: { batch: number; outcome: string; reason: string; oldValue: string; newValue: string | null; publicId: string | null; url: string | null }[] };
const find = async (...args: string[]) => {
  const r = await h.run(['find', ...args, '--json']);
  return { code: r.code, ...(JSON.parse(r.stdout) as { kind: string; records: Found[]; next: number | null }) };
};

describe('find', () => {
  it('finds a record by table:pk with every batch that touched it and its asset', async () => {
    const r = await find('shop_productimages:1');
    expect(r.kind).toBe('table_pk');
    expect(r.records).toHaveLength(1);
    const [rec] = r.records;
    expect(rec!.history.map((e) => [e.batch, e.outcome, e.reason])).toEqual([
      [1, 'migrated', 'uploaded'],
      [2, 'skipped', 'already_migrated'],
    ]);
    expect(rec!.history[0]!.oldValue).toBe('p/shoe.png');
    const url = rec!.history[0]!.url!;
    expect(url).toMatch(new RegExp(`^${h.emulator.url}/demo/image/upload/media/p/shoe_[0-9a-z]{6}$`));
    expect((await fetch(url)).status).toBe(200);
    const text = await h.run(['find', 'shop_productimages:1']);
    expect(text.stdout).toContain('shop_productimages.image[pk=1]');
    expect(text.stdout).toMatch(/batch 1 \(migrate\) · migrated uploaded · attempts 1 · p\/shoe\.png → media\/p\/shoe_[0-9a-z]{6} · http/);
  });

  it('finds by a piece of the path or of the public_id, taking % and _ literally', async () => {
    expect((await find('sandal_red')).records.map((f) => f.pk)).toEqual(['3']);
    expect((await find('50%')).records.map((f) => f.pk)).toEqual(['5']);
    const id = (await find('shop_productimages:2')).records[0]!.history[0]!.publicId!;
    expect((await find(id.slice(-6))).records.map((f) => `${f.table}:${f.pk}`)).toEqual(['shop_productimages:2']);
    // Case does not matter for a piece of a path.
    expect((await find('SHOE')).records.map((f) => f.pk)).toEqual(['1']);
  });

  it('lists a whole table a page at a time, newest first, each record once', async () => {
    const all = await find('shop_productimages');
    expect(all.kind).toBe('table');
    expect(all.records.map((f) => f.pk).sort()).toEqual(['1', '2', '3', '4', '5']);
    const seen: string[] = [];
    let before: number | null = null;
    for (let page = 0; page < 5; page++) {
      const r = await find('shop_productimages', '--limit', '2', ...(before !== null ? ['--before', String(before)] : []));
      seen.push(...r.records.map((f) => f.pk));
      before = r.next;
      if (before === null) break;
    }
    expect(seen.sort()).toEqual(['1', '2', '3', '4', '5']);
  });

  it('pages a piece of a path the same when its matches lie below the newest records (the trigram half of the search)', async () => {
    const pages = async (span?: number) => {
      const seen: string[] = [];
      let before: number | undefined;
      for (let page = 0; page < 10; page++) {
        const r = await searchRecords(h.db, '.png', { perPage: 2, ...(before !== undefined ? { before } : {}), ...(span !== undefined ? { span } : {}) });
        seen.push(...r.records.map((f) => `${f.table}:${f.pk}:${f.history.length}`));
        if (r.next === null) return seen;
        before = r.next;
      }
      throw new Error('more than 10 pages');
    };
    const walked = await pages();
    expect(walked.map((x) => x.split(':').slice(0, 2).join(':')).sort()).toEqual([
      'shop_bannerimage:1',
      'shop_bannerimage:2',
      ...[1, 2, 3, 4, 5].map((pk) => `shop_productimages:${pk}`),
    ]);
    // A span of one id sends nearly every look to the trigram index (on PostgreSQL): same records, same order.
    expect(await pages(1)).toEqual(walked);
    expect((await searchRecords(h.db, 'shoe', { span: 1 })).records.map((f) => f.pk)).toEqual(['1']);
  });

  it('exits 1 and says so when nothing matches', async () => {
    const r = await h.run(['find', 'no-such-thing']);
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toBe('No record matches "no-such-thing" (a table, table:pk, or a piece of a path or public_id).');
  });
});
