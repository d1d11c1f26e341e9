import type { Knex } from 'knex';
import { dialectOf } from '../db/connect.ts';
import type { Source } from '../config/sources.ts';
import { RECORDS } from './migrations.ts';
import { OPEN, toRecord, type Row } from './rows.ts';
import { ATTEMPT_COLUMNS, FINISH_COLUMNS } from './record-columns.ts';
import type { AttemptFields, Finish, WithRow } from './types.ts';
import type { Records } from './records.ts';

/**
 * The statements of group commit: what Records does for one record, done for many in one statement
 * each (a CASE on the id for the values that differ), so the records a process works on at once
 * share their round trips. Each method answers record by record, as the one-record forms do.
 */

export class ManyRecords {
  constructor(
    readonly db: Knex,
    private readonly records: Records,
  ) {}

  /**
   * Several records' attempts in one statement (group commit: one round trip and one WAL flush for
   * all): each column a CASE on the id, the records not named keeping what they hold.
   */
  async noteAttempts(attempts: readonly { id: number; fields: AttemptFields }[]): Promise<void> {
    if (attempts.length === 0) return;
    const set: Record<string, unknown> = { attempts: this.db.raw('attempts + 1'), updated_at: this.db.fn.now() };
    for (const [key, column] of ATTEMPT_COLUMNS) {
      const value = byId(this.db, column, attempts.length, attempts.map((a) => [a.id, a.fields[key]]));
      if (value !== undefined) set[column] = value;
    }
    await this.db(RECORDS)
      .whereIn(
        'id',
        attempts.map((a) => a.id),
      )
      .whereIn('outcome', OPEN)
      .update(set);
  }

  /**
   * getWithRow for many records of one source at once: their ledger rows, then their app rows by
   * primary key, two queries whatever the number. Matched by the key as text; a record whose app row
   * the database found but not under its exact spelling (a case-insensitive collation) is left out of
   * the answer, for getWithRow to read on its own.
   */
  async getWithRows(batchId: number, source: Source, pks: readonly string[]): Promise<Map<string, WithRow>> {
    const out = new Map<string, WithRow>();
    if (pks.length === 0) return out;
    const records = await this.recordsOf(batchId, source, pks);
    if (records.length === 0) return out;
    const rows = (await this.db(source.table)
      .whereIn(
        source.pk,
        records.map((r) => String(r.pk)),
      )
      .select({ mm_row_pk: source.pk, mm_row_value: source.column })) as Row[];
    const byPk = new Map(rows.map((r) => [String(r.mm_row_pk), r]));
    const spelledOtherwise = [...byPk.keys()].some((pk) => !records.some((r) => String(r.pk) === pk));
    for (const r of records) {
      const pk = String(r.pk);
      const row = byPk.get(pk);
      if (!row && spelledOtherwise) continue;
      out.set(pk, {
        record: toRecord(r),
        row: { exists: row !== undefined, value: row?.mm_row_value == null ? undefined : String(row.mm_row_value) },
      });
    }
    return out;
  }

  /**
   * The batch's ledger rows of these keys. On PostgreSQL a lateral look-up per key: with `pk in (…)`
   * the planner, whose statistics still predate the batch's million rows (the workers start while it
   * is recorded), took the first three columns of the identity index for one row and filtered the
   * pks over the whole batch (0.3 s a look-up at a million records). Each key is looked up on its own
   * here, by equalities on the key's columns, whatever the statistics say (`limit 1`, the identity
   * being unique, keeps the planner from flattening the look-ups back into one join).
   */
  private async recordsOf(batchId: number, source: Source, pks: readonly string[]): Promise<Row[]> {
    if (dialectOf(this.db) === 'pg') {
      const found = await this.db.raw(
        `select r.* from unnest(?::text[]) as k(pk) cross join lateral
           (select * from ?? where batch_id = ? and source_table = ? and source_column = ? and pk = k.pk limit 1) as r`,
        [[...pks], RECORDS, batchId, source.table, source.column],
      );
      return (found as { rows: Row[] }).rows;
    }
    return (await this.db(RECORDS)
      .where({ batch_id: batchId, source_table: source.table, source_column: source.column })
      .whereIn('pk', [...pks])) as Row[];
  }

  /**
   * finish for many records in one statement (group commit): each column a CASE on the id. Returns
   * the ids this call wrote; the others had an outcome already (or, with `evenIfDecided`, none).
   * MySQL has no UPDATE … RETURNING: there the open records are locked and read first.
   */
  async finishMany(db: Knex, items: readonly { id: number; f: Finish }[], opts: { evenIfDecided?: boolean } = {}): Promise<Set<number>> {
    if (items.length === 0) return new Set();
    if (items.length === 1) {
      const [{ id, f }] = items as [{ id: number; f: Finish }];
      return (await this.records.finish(db, id, f, opts)) ? new Set([id]) : new Set();
    }
    const ids = items.map((i) => i.id);
    let open = items;
    if (dialectOf(db) === 'mysql' && !opts.evenIfDecided) {
      const locked = new Set(
        ((await db(RECORDS).whereIn('id', ids).whereIn('outcome', OPEN).forUpdate().select('id')) as Row[]).map((r) => Number(r.id)),
      );
      open = items.filter((i) => locked.has(i.id));
      if (open.length === 0) return new Set();
    }
    const set: Record<string, unknown> = { updated_at: db.fn.now(), finished_at: db.fn.now() };
    for (const [column, valueOf] of FINISH_COLUMNS) {
      const value = byId(db, column, open.length, open.map((i) => [i.id, valueOf(i.f)]));
      if (value !== undefined) set[column] = value;
    }
    const q = db(RECORDS).whereIn(
      'id',
      open.map((i) => i.id),
    );
    if (!opts.evenIfDecided) q.whereIn('outcome', OPEN);
    if (dialectOf(db) === 'mysql') {
      await q.update(set);
      return new Set(open.map((i) => i.id));
    }
    const written = (await q.update(set, ['id'])) as Row[];
    return new Set(written.map((r) => Number(r.id)));
  }
}

/**
 * A column's new value for an update of `count` records: undefined when none sets it, the value
 * itself when every record sets the same one (the outcome, the reason: no CASE to build and parse),
 * else a CASE on the id that leaves the records not setting it as they are.
 */
function byId(db: Knex, column: string, count: number, values: readonly (readonly [number, unknown])[]): unknown {
  const given = values.filter(([, v]) => v !== undefined);
  if (given.length === 0) return undefined;
  const first = given[0]![1];
  if (given.length === count && given.every(([, v]) => v === first)) return first;
  const cases = given.map(() => 'when ? then ?').join(' ');
  return db.raw(`case id ${cases} else ?? end`, [...given.flatMap(([id, v]) => [id, v as Knex.Value]), column]);
}
