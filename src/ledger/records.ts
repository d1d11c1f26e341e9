import type { Knex } from 'knex';
import { dialectOf } from '../db/connect.ts';
import { ASSETS, BATCHES, RECORDS } from './migrations.ts';
import { Outcome } from '../outcomes.ts';
import type { AttemptFields, Finish, LedgerRecord, RecordRef, WithRow } from './types.ts';
import type { Source } from '../config/sources.ts';
import { OPEN, toRecord, type Row } from './rows.ts';
import { attemptColumns, finishColumns } from './record-columns.ts';

/**
 * One ledger row per (batch, table, column, pk): added pending when the batch is recorded, noted before
 * each upload, finished in the same transaction as the app row's write, and rolled back with it.
 */
export class Records {
  constructor(readonly db: Knex) {}

  /**
   * Idempotent: records already in the ledger for this batch are left as they are. `priority` orders
   * the queue: records of priority 0 are queued before those of priority 1.
   */
  async addPending(batchId: number, source: Source, pks: readonly string[], priority = 0): Promise<void> {
    if (pks.length === 0) return;
    if (dialectOf(this.db) === 'pg') {
      // One array parameter instead of four per row: no 4,000-placeholder statement to build and
      // parse for a page of 1,000 (measured: ~40k -> ~56k rows/s, a quarter less PostgreSQL CPU).
      await this.db.raw(
        `insert into ?? (batch_id, source_table, source_column, priority, pk) select ?, ?, ?, ?, unnest(?::text[])
         on conflict (batch_id, source_table, source_column, pk) do nothing`,
        [RECORDS, batchId, source.table, source.column, priority, [...pks]],
      );
      return;
    }
    await this.insertIgnoring(pks.map((pk) => ({ batch_id: batchId, source_table: source.table, source_column: source.column, priority, pk })));
  }

  /**
   * As addPending, noting each record's value and in-place id as the scan saw them: a stage batch's
   * records know from the start which others claim the same id.
   */
  async addPendingClaims(batchId: number, source: Source, rows: readonly { pk: string; value: string | null; publicId: string | null }[]): Promise<void> {
    if (rows.length === 0) return;
    if (dialectOf(this.db) === 'pg') {
      await this.db.raw(
        `insert into ?? (batch_id, source_table, source_column, pk, old_value, public_id)
         select ?, ?, ?, * from unnest(?::text[], ?::text[], ?::text[])
         on conflict (batch_id, source_table, source_column, pk) do nothing`,
        // Arrays with NULLs in them: pg sends them as they are; knex's types only know string[].
        [RECORDS, batchId, source.table, source.column, rows.map((r) => r.pk), rows.map((r) => r.value) as string[], rows.map((r) => r.publicId) as string[]],
      );
      return;
    }
    await this.insertIgnoring(rows.map((r) => ({ batch_id: batchId, source_table: source.table, source_column: source.column, pk: r.pk, old_value: r.value, public_id: r.publicId })));
  }

  /**
   * Inserts ledger rows, leaving those the batch has. knex writes a multi-row insert on SQLite as one
   * compound SELECT, which SQLite caps at 500 terms: a page of 1,000 goes in 250 at a time there.
   */
  private async insertIgnoring(rows: Record<string, unknown>[]): Promise<void> {
    const chunk = dialectOf(this.db) === 'sqlite' ? 250 : rows.length;
    for (let i = 0; i < rows.length; i += chunk) {
      await this.db(RECORDS)
        .insert(rows.slice(i, i + chunk))
        .onConflict(['batch_id', 'source_table', 'source_column', 'pk'])
        .ignore();
    }
  }

  async get(ref: RecordRef, db: Knex = this.db): Promise<LedgerRecord | undefined> {
    const r = await db(RECORDS)
      .where({ batch_id: ref.batchId, source_table: ref.table, source_column: ref.column, pk: ref.pk })
      .first();
    return r ? toRecord(r) : undefined;
  }

  /**
   * Notes an attempt before the upload, with the public_id it will create: if the process dies right
   * after the upload, the asset is still known, and nobody deletes it as an orphan while we work.
   */
  async noteAttempt(id: number, fields: AttemptFields): Promise<void> {
    await this.db(RECORDS)
      .where({ id })
      .whereIn('outcome', OPEN)
      .update({ attempts: this.db.raw('attempts + 1'), updated_at: this.db.fn.now(), ...attemptColumns(fields) });
  }

  /**
   * The ledger row together with what the app's row holds now, in one round trip: the source's
   * columns come from subqueries by primary key, so `exists` tells a deleted row from a NULL value.
   */
  async getWithRow(ref: RecordRef, source: Source): Promise<WithRow | undefined> {
    const app = () => this.db(source.table).where(source.pk, ref.pk);
    const r = (await this.db(RECORDS)
      .where({ batch_id: ref.batchId, source_table: ref.table, source_column: ref.column, pk: ref.pk })
      .select(`${RECORDS}.*`, app().select(source.pk).as('mm_row_pk'), app().select(source.column).as('mm_row_value'))
      .first()) as Row | undefined;
    if (!r) return undefined;
    return {
      record: toRecord(r),
      row: { exists: r.mm_row_pk != null, value: r.mm_row_value == null ? undefined : String(r.mm_row_value) },
    };
  }

  /** A failed record that runs again (retry-failed, bull-board's retry) counts as pending meanwhile. */
  async reopen(id: number): Promise<void> {
    await this.db(RECORDS)
      .where({ id, outcome: Outcome.failed })
      .update({ outcome: Outcome.pending, finished_at: null, updated_at: this.db.fn.now() });
  }

  /**
   * Writes a final outcome unless another run already did; returns whether this call wrote it.
   * `evenIfDecided` rewrites an outcome this same transaction has just claimed.
   */
  async finish(db: Knex, id: number, f: Finish, opts: { evenIfDecided?: boolean } = {}): Promise<boolean> {
    const q = db(RECORDS).where({ id });
    if (!opts.evenIfDecided) q.whereIn('outcome', OPEN);
    const n = await q.update({ updated_at: db.fn.now(), finished_at: db.fn.now(), ...finishColumns(f) });
    return n > 0;
  }

  /** Does this row hold a value an earlier (not rolled back, not dry-run) batch wrote into it? */
  async holdsOurValue(ref: Omit<RecordRef, 'batchId'>, value: string): Promise<boolean> {
    const r = await this.db(`${RECORDS} as r`)
      .join(`${BATCHES} as b`, 'b.id', 'r.batch_id')
      .where({
        'r.source_table': ref.table,
        'r.source_column': ref.column,
        'r.pk': ref.pk,
        'r.outcome': Outcome.migrated,
        'r.new_value': value,
        'b.dry_run': false,
      })
      .whereNull('r.rolled_back_at')
      .first('r.id');
    return Boolean(r);
  }

  /**
   * Did a batch already find this row's value missing (and was it missing with this very value)? A
   * file known to be lost says nothing new about MEDIA_ROOT: a re-run meeting it is no wrong folder.
   * Seeks the (table, column, pk) index.
   */
  async knownMissing(ref: Omit<RecordRef, 'batchId'>, value: string): Promise<boolean> {
    const r = await this.db(RECORDS)
      .where({ source_table: ref.table, source_column: ref.column, pk: ref.pk, outcome: Outcome.missing, old_value: value })
      .first('id');
    return Boolean(r);
  }

  /**
   * Is this asset wanted by any other record: one that migrated to it (and was not rolled back), or
   * one still working towards it? Only an asset nobody wants may be deleted.
   */
  async isPublicIdWanted(publicId: string, exceptRecordId?: number): Promise<boolean> {
    const q = this.db(`${RECORDS} as r`)
      .join(`${BATCHES} as b`, 'b.id', 'r.batch_id')
      .where({ 'r.public_id': publicId, 'b.dry_run': false })
      .where((w) =>
        w
          .where((m) => m.where('r.outcome', Outcome.migrated).whereNull('r.rolled_back_at'))
          .orWhere('r.outcome', Outcome.pending)
          // A staged asset serves its rows' old values once the storage is switched.
          .orWhere((m) => m.where('r.outcome', Outcome.staged).whereNull('b.rolled_back_at')),
      );
    if (exceptRecordId !== undefined) q.whereNot('r.id', exceptRecordId);
    if (await q.first('r.id')) return true;
    // A text reference may have been rewritten to it: text rows hold its URL, never its id, so no
    // record above names it. Such an asset is never ours to delete.
    return Boolean(await this.db(ASSETS).where({ public_id: publicId }).first('id'));
  }

  async markRolledBack(db: Knex, recordId: number): Promise<void> {
    await db(RECORDS).where({ id: recordId }).update({ rolled_back_at: db.fn.now(), updated_at: db.fn.now() });
  }

  /** Ends every pending record of a batch as skipped/cancelled; a job that runs later replays that. */
  async cancelPending(batchId: number): Promise<number> {
    return this.db(RECORDS)
      .where({ batch_id: batchId, outcome: Outcome.pending })
      .update({ outcome: Outcome.skipped, reason: 'cancelled', finished_at: this.db.fn.now(), updated_at: this.db.fn.now() });
  }

  async list(
    batchId: number,
    opts: { outcome?: Outcome; limit?: number; offset?: number; afterId?: number } = {},
  ): Promise<LedgerRecord[]> {
    const q = this.db(RECORDS).where({ batch_id: batchId });
    if (opts.outcome) q.andWhere({ outcome: opts.outcome });
    if (opts.afterId !== undefined) q.andWhere('id', '>', opts.afterId);
    q.orderBy('id');
    if (opts.limit !== undefined) q.limit(opts.limit);
    if (opts.offset !== undefined) q.offset(opts.offset);
    return (await q).map(toRecord);
  }

  /** Every record of a batch with one outcome, in id order, read a page at a time (for CSV exports). */
  async *each(batchId: number, outcome?: Outcome, pageSize = 1_000): AsyncGenerator<LedgerRecord> {
    let after = 0;
    for (;;) {
      const page = await this.list(batchId, { ...(outcome ? { outcome } : {}), afterId: after, limit: pageSize });
      for (const r of page) yield r;
      if (page.length < pageSize) return;
      after = page[page.length - 1]!.id;
    }
  }
}
