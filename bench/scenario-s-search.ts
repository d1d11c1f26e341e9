import { Ledger } from '../src/ledger/ledger.ts';
import { searchRecords } from '../src/ledger/search.ts';
import { fmt, table, type BenchContext, type ScenarioResult } from './report.ts';
import type { World } from './world.ts';

/**
 * S. Finding a record on a big ledger: `find` / `GET /api/records` (the same `searchRecords`) over a
 * ledger of a million records — one batch that migrated them all, after a canary batch of a thousand,
 * so the first records have two batches of history. The rows are written by SQL (`generate_series`),
 * shaped as the tool writes them (paths, public_ids with a six-character suffix), then the ledger's
 * own indexes do the work. Each query is timed five times; its median counts.
 */
export async function scenarioSearch(ctx: BenchContext, world: World): Promise<ScenarioResult> {
  const n = ctx.rows ?? (ctx.quick ? 20_000 : 1_000_000);
  await world.resetState();
  const ledger = new Ledger(world.db);
  await ledger.migrate();
  ctx.log(`S: writing a ledger of ${n.toLocaleString('en-US')} records`);
  const sources = JSON.stringify([{ table: 'shop_productimages', column: 'image', pk: 'id', maxLength: 100, nullable: false }]);
  await world.db('media_migrate_batches').insert([
    { kind: 'migrate', sources, store: 'public_id', dry_run: false, prefix: 'media/', tag: 'media', scope: JSON.stringify({ limit: 1000 }), enqueued_at: world.db.fn.now() },
    { kind: 'migrate', sources, store: 'public_id', dry_run: false, prefix: 'media/', tag: 'media', enqueued_at: world.db.fn.now() },
  ]);
  const suffix = `substr(md5(g::text), 1, 6)`;
  await world.db.raw(
    `insert into media_migrate_records (batch_id, source_table, source_column, pk, outcome, reason, old_value, new_value, public_id, etag, bytes, attempts, finished_at)
     select 1, 'shop_productimages', 'image', g::text, 'migrated', 'uploaded', 'products/p' || g || '.png', 'media/products/p' || g || '_' || ${suffix},
            'media/products/p' || g || '_' || ${suffix}, md5(g::text), 100, 1, now()
     from generate_series(1, 1000) g`,
  );
  await world.db.raw(
    `insert into media_migrate_records (batch_id, source_table, source_column, pk, outcome, reason, old_value, new_value, public_id, etag, bytes, attempts, finished_at)
     select 2, 'shop_productimages', 'image', g::text,
            case when g <= 1000 then 'skipped' else 'migrated' end, case when g <= 1000 then 'already_migrated' else 'uploaded' end,
            'products/p' || g || '.png', 'media/products/p' || g || '_' || ${suffix}, 'media/products/p' || g || '_' || ${suffix}, md5(g::text), 100, 1, now()
     from generate_series(1, ?) g`,
    [n - 1000],
  );
  await world.db.raw('analyze media_migrate_records');
  const trigram = ((await world.db.raw(`select count(*) as n from pg_indexes where schemaname = current_schema() and indexname like 'media_migrate_records_%_trgm'`)) as { rows: { n: string }[] }).rows[0]?.n;

  const probe = Math.floor(n * 0.777);
  const suffixOf = ((await world.db('media_migrate_records').where({ batch_id: 2, pk: String(probe) }).first('public_id')) as { public_id: string }).public_id.slice(-6);
  const queries: { label: string; q: string; before?: boolean }[] = [
    { label: 'table:pk', q: `shop_productimages:${probe}` },
    { label: 'a piece of a path (a few hits)', q: `p${probe}.` },
    { label: 'a piece of a public_id (its suffix)', q: suffixOf },
    { label: 'a common piece of a path (most rows hit)', q: 'products/p1' },
    { label: 'its next page', q: 'products/p1', before: true },
    { label: 'a whole table', q: 'shop_productimages' },
    { label: 'a record of the canary (two batches of history)', q: 'shop_productimages:42' },
    { label: 'nothing matches', q: 'no-such-file' },
  ];
  const rows: (string | number)[][] = [];
  let worst = 0;
  for (const query of queries) {
    let before: number | undefined;
    if (query.before) before = (await searchRecords(world.db, query.q)).next ?? undefined;
    const times: number[] = [];
    let hits = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const r = await searchRecords(world.db, query.q, before !== undefined ? { before } : {});
      times.push(performance.now() - t0);
      hits = r.records.length;
    }
    times.sort((a, b) => a - b);
    const median = times[2]!;
    worst = Math.max(worst, median);
    rows.push([query.label, `\`${query.q}\``, hits, fmt(median, 1), fmt(times[4]!, 1)]);
  }
  return {
    id: 'S',
    title: `Finding a record on a ledger of ${n.toLocaleString('en-US')} records`,
    figures: [
      {
        label: `slowest query (median of 5), ${n.toLocaleString('en-US')} records`,
        value: worst,
        unit: 'ms',
        digits: 1,
        target: { op: '<=', value: 300 },
        ...(ctx.quick ? { notApplicable: 'quick run, not judged' } : {}),
      },
    ],
    details: [
      ...table(['query', 'q', 'records on the page', 'median ms', 'slowest ms'], rows),
      '',
      `What \`media-migrate find\` and \`GET /api/records\` run (\`searchRecords\`), a page of 20 records with their whole history, on PostgreSQL with ${trigram === '2' ? 'the trigram indexes of the ledger (pg_trgm)' : 'no trigram index (pg_trgm could not be created: every piece-of-a-path query scans)'}.`,
    ],
  };
}
