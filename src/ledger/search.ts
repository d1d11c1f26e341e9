import type { Knex } from 'knex';
import { dialectOf } from '../db/connect.ts';
import { BATCHES, RECORDS } from './migrations.ts';

/**
 * "Where is product 4711's image?": any record of any batch, found by its table, its `table:pk`, or
 * a piece of its old value (the path) or public_id, with its whole history — every batch that
 * touched it. Answers a page of records at a time, newest first; on PostgreSQL the substring search
 * runs on trigram indexes (see the ledger's migrations), so it stays fast on a million records.
 */

export type SearchKind = 'table_pk' | 'table' | 'text';

export interface RecordHistoryEntry {
  batch: number;
  kind: string;
  dryRun: boolean;
  outcome: string;
  reason: string | null;
  detail: string | null;
  attempts: number;
  oldValue: string | null;
  newValue: string | null;
  publicId: string | null;
  finishedAt: string | null;
  rolledBack: boolean;
}

export interface FoundRecord {
  table: string;
  column: string;
  pk: string;
  /** Oldest batch first. */
  history: RecordHistoryEntry[];
}

export interface SearchResult {
  query: string;
  kind: SearchKind;
  records: FoundRecord[];
  /** Pass as `before` for the next page; null on the last one. */
  next: number | null;
}

type Row = Record<string, unknown>;

/** How many ledger rows one look reads while collecting a page of distinct records. */
const SCAN = 500;

export interface SearchOptions {
  perPage?: number;
  /** The `next` of the page before. */
  before?: number;
  /** Ids walked newest first before a piece of a path is asked of the trigram index (tests shrink it). */
  span?: number;
}

export async function searchRecords(db: Knex, query: string, opts: SearchOptions = {}): Promise<SearchResult> {
  const q = query.trim();
  const perPage = Math.min(Math.max(opts.perPage ?? 20, 1), 100);
  const { kind, where } = await interpret(db, q);
  const first = opts.before;
  const seen = new Map<string, { table: string; column: string; pk: string }>();
  const skip = new Set<string>();
  let before = first ?? Number.MAX_SAFE_INTEGER;
  let next: number | null = null;
  let exhausted = false;
  for (let looks = 0; looks < 20 && next === null; looks++) {
    const { rows, last } = await look(db, { kind, q, where, span: opts.span ?? SPAN }, before);
    // A record whose newer rows matched is on an earlier page already.
    if (first !== undefined) for (const k of await listedEarlier(db, where, rows, first)) skip.add(k);
    for (const r of rows) {
      const key = identity(r);
      if (!seen.has(key) && !skip.has(key)) {
        if (seen.size === perPage) {
          next = before;
          break;
        }
        seen.set(key, { table: String(r.source_table), column: String(r.source_column), pk: String(r.pk) });
      }
      before = Number(r.id);
    }
    if (last) {
      exhausted = true;
      break;
    }
  }
  // Twenty looks read rows of records already listed: the page is short, but there is more to read.
  if (next === null && !exhausted) next = before;
  return { query: q, kind, records: await histories(db, [...seen.values()]), next };
}

/** What the words ask for: a record by `table:pk`, a whole table, or a piece of a path or public_id. */
async function interpret(db: Knex, q: string): Promise<{ kind: SearchKind; where: Where }> {
  const m = /^([A-Za-z_][A-Za-z0-9_]*):(.+)$/.exec(q);
  if (m) {
    const columns = await columnsOf(db, m[1]!);
    // With its column, the table and pk seek the (source_table, source_column, pk) index; without
    // it, PostgreSQL read the whole ledger (300 ms on a million records).
    if (columns.length > 0) return { kind: 'table_pk', where: (b) => b.where({ source_table: m[1], pk: m[2] }).whereIn('source_column', columns) };
  }
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(q) && (await columnsOf(db, q)).length > 0) {
    return { kind: 'table', where: (b) => b.where({ source_table: q }) };
  }
  const like = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const op = dialectOf(db) === 'pg' ? 'ilike' : 'like';
  const escape = dialectOf(db) === 'mysql' ? '' : " escape '\\'";
  return {
    kind: 'text',
    where: (b) => b.where((w) => w.whereRaw(`old_value ${op} ?${escape}`, [like]).orWhereRaw(`public_id ${op} ?${escape}`, [like])),
  };
}

type Where = (b: Knex.QueryBuilder) => Knex.QueryBuilder;

/** How many ids the newest-first walk reads before a piece-of-a-path search turns to the trigram index. */
const SPAN = 50_000;

/**
 * Up to SCAN matching ledger rows below `before`, newest first; `last` when there are no more.
 *
 * A piece of a path is searched newest first along the primary key, which is right when matches
 * are spread through the ledger, and hopeless when they all sit far down: PostgreSQL assumes the
 * former, and `products/p1` on a million records walked 800,000 rows (0.8 s) to find the first
 * 500. So the walk stops after SPAN ids and the rest is asked by the trigram index, whose cost
 * follows the number of matches, not their place. Ordering by `id + 0` is what keeps the planner
 * off the primary key's order there. A query shorter than a trigram cannot use that index: it walks.
 */
async function look(
  db: Knex,
  { kind, q, where, span }: { kind: SearchKind; q: string; where: Where; span: number },
  before: number,
): Promise<{ rows: Row[]; last: boolean }> {
  const below = (id: number) => where(db(RECORDS).select('id', 'source_table', 'source_column', 'pk')).andWhere('id', '<', id);
  if (kind !== 'text' || dialectOf(db) !== 'pg' || q.length < 3) {
    const rows = (await below(before).orderBy('id', 'desc').limit(SCAN)) as Row[];
    return { rows, last: rows.length < SCAN };
  }
  const top = before === Number.MAX_SAFE_INTEGER ? await maxId(db) + 1 : before;
  const floor = top - span;
  const near = (await below(before).andWhere('id', '>=', floor).orderBy('id', 'desc').limit(SCAN)) as Row[];
  if (near.length === SCAN || floor <= 1) return { rows: near, last: near.length < SCAN };
  const far = (await below(floor).orderByRaw('id + 0 desc').limit(SCAN - near.length)) as Row[];
  return { rows: [...near, ...far], last: far.length < SCAN - near.length };
}

async function maxId(db: Knex): Promise<number> {
  const r = (await db(RECORDS).max({ id: 'id' }).first()) as { id: unknown } | undefined;
  return Number(r?.id ?? 0);
}

/** The columns of a source table that batches have read (none: not a source table). */
async function columnsOf(db: Knex, table: string): Promise<string[]> {
  const columns = new Set<string>();
  for (const b of (await db(BATCHES).select('sources')) as Row[]) {
    for (const s of JSON.parse(String(b.sources)) as { table: string; column: string }[]) if (s.table === table) columns.add(s.column);
  }
  return [...columns];
}

const identity = (r: Row) => `${r.source_table}\u0000${r.source_column}\u0000${r.pk}`;

/** Of the records these rows belong to, those with a matching row at or after `from`. */
async function listedEarlier(db: Knex, where: Where, rows: Row[], from: number): Promise<string[]> {
  if (rows.length === 0) return [];
  const ids = [...new Map(rows.map((r) => [identity(r), [r.source_table, r.source_column, r.pk]])).values()];
  const hits = (await where(db(RECORDS).select('source_table', 'source_column', 'pk'))
    .andWhere('id', '>=', from)
    .whereIn(['source_table', 'source_column', 'pk'], ids as [string, string, string][])) as Row[];
  return hits.map(identity);
}

async function histories(db: Knex, found: { table: string; column: string; pk: string }[]): Promise<FoundRecord[]> {
  if (found.length === 0) return [];
  const rows = (await db(`${RECORDS} as r`)
    .join(`${BATCHES} as b`, 'b.id', 'r.batch_id')
    .whereIn(
      ['r.source_table', 'r.source_column', 'r.pk'],
      found.map((f) => [f.table, f.column, f.pk]),
    )
    .orderBy('r.batch_id')
    .select('r.*', 'b.kind as batch_kind', 'b.dry_run as batch_dry_run')) as Row[];
  const str = (v: unknown) => (v == null ? null : String(v));
  return found.map((f) => ({
    ...f,
    history: rows
      .filter((r) => r.source_table === f.table && r.source_column === f.column && String(r.pk) === f.pk)
      .map((r) => ({
        batch: Number(r.batch_id),
        kind: String(r.batch_kind ?? 'migrate'),
        dryRun: Boolean(r.batch_dry_run),
        outcome: String(r.outcome),
        reason: str(r.reason),
        detail: str(r.detail),
        attempts: Number(r.attempts ?? 0),
        oldValue: str(r.old_value),
        newValue: str(r.new_value),
        publicId: str(r.public_id),
        finishedAt: r.finished_at == null ? null : new Date(r.finished_at instanceof Date ? r.finished_at : `${String(r.finished_at).replace(' ', 'T')}${/Z|[+-]\d\d:?\d\d$/.test(String(r.finished_at)) ? '' : 'Z'}`).toISOString(),
        rolledBack: r.rolled_back_at != null,
      })),
  }));
}
