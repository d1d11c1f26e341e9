import type { Knex } from 'knex';
import { dialectOf } from '../db/connect.ts';
import { BATCHES, CLAIMS, RECORDS } from './migrations.ts';
import { Outcome, Reason } from '../outcomes.ts';
import type { Batch, InPlaceClaim, LedgerRecord, RecordRef } from './types.ts';
import type { Source } from '../config/sources.ts';
import { date, toRecord, type Row } from './rows.ts';

/**
 * What the staged cutover needs to know: which stage batch placed which file at which in-place id,
 * which values claim the same id (in and outside a scoped batch), and what a later migrate rewrote.
 */
export class CutoverRecords {
  constructor(readonly db: Knex) {}

  /** The staged record of a row in a stage batch, if the batch placed its file. */
  async stagedRecord(stageBatchId: number, ref: Omit<RecordRef, 'batchId'>): Promise<LedgerRecord | undefined> {
    const r = await this.db(RECORDS)
      .where({ batch_id: stageBatchId, source_table: ref.table, source_column: ref.column, pk: ref.pk, outcome: Outcome.staged })
      .first();
    return r ? toRecord(r) : undefined;
  }

  /** The value each of these rows had when a stage batch placed its file (rows it placed only). */
  async stagedValues(stageBatchId: number, source: Source, pks: readonly string[]): Promise<Map<string, string>> {
    if (pks.length === 0) return new Map();
    const q = this.db(RECORDS)
      .where({ batch_id: stageBatchId, source_table: source.table, source_column: source.column, outcome: Outcome.staged })
      .select('pk', 'old_value');
    if (dialectOf(this.db) === 'pg') q.whereRaw('pk = any(?::text[])', [[...pks]]);
    else q.whereIn('pk', [...pks]);
    const rows = (await q) as Row[];
    return new Map(rows.map((r) => [String(r.pk), String(r.old_value)]));
  }

  /**
   * Every value that claims this in-place id: the batch's records, then the rows outside its scope
   * (a scoped stage batch) that the producer found claiming it. A handful at most.
   */
  async inPlaceGroup(batchId: number, publicId: string): Promise<InPlaceClaim[]> {
    const rows = await this.db(RECORDS).where({ batch_id: batchId, public_id: publicId }).orderBy('id');
    const outside = (await this.db(CLAIMS).where({ batch_id: batchId, public_id: publicId }).orderBy('id')) as Row[];
    return [
      ...rows.map(toRecord),
      ...outside.map((r) => ({ id: undefined, table: String(r.source_table), column: String(r.source_column), pk: String(r.pk), oldValue: String(r.value) })),
    ];
  }

  /** Which of these in-place ids the batch's records claim, and by which records. */
  async claimsOf(batchId: number, publicIds: readonly string[]): Promise<Map<string, Pick<LedgerRecord, 'table' | 'column' | 'pk'>[]>> {
    const by = new Map<string, Pick<LedgerRecord, 'table' | 'column' | 'pk'>[]>();
    if (publicIds.length === 0) return by;
    const rows = (await this.db(RECORDS)
      .where({ batch_id: batchId })
      .whereIn('public_id', [...new Set(publicIds)])
      .select('public_id', 'source_table', 'source_column', 'pk')) as Row[];
    for (const r of rows) {
      const id = String(r.public_id);
      by.set(id, [...(by.get(id) ?? []), { table: String(r.source_table), column: String(r.source_column), pk: String(r.pk) }]);
    }
    return by;
  }

  /** Notes rows outside a scoped stage batch that claim one of its in-place ids (again is a no-op). */
  async addOutsideClaims(batchId: number, claims: readonly { publicId: string; table: string; column: string; pk: string; value: string }[]): Promise<void> {
    if (claims.length === 0) return;
    await this.db(CLAIMS)
      .insert(claims.map((c) => ({ batch_id: batchId, public_id: c.publicId, source_table: c.table, source_column: c.column, pk: c.pk, value: c.value })))
      .onConflict(['batch_id', 'source_table', 'source_column', 'pk'])
      .ignore();
  }

  /**
   * Notes, whatever the record's outcome by now, that its stage upload created (or replaced) the
   * asset at its id with these bytes: from here on that asset is ours to replace or remove.
   */
  async notePlaced(id: number, etag: string, bytes: number): Promise<void> {
    await this.db(RECORDS).where({ id }).update({ reused: false, etag, bytes, updated_at: this.db.fn.now() });
  }

  /**
   * Did one of our stage batches create the asset at this id with exactly these bytes? Only such an
   * asset is ours to replace or remove; any other is someone else's.
   */
  async placedByUs(publicId: string, etag: string): Promise<boolean> {
    const r = await this.db(`${RECORDS} as r`)
      .join(`${BATCHES} as b`, 'b.id', 'r.batch_id')
      .where({ 'r.public_id': publicId, 'r.etag': etag, 'r.reused': false, 'b.kind': 'stage', 'b.dry_run': false })
      .first('r.id');
    return Boolean(r);
  }

  /** Does a row hold this id because a migrate batch wrote it there (and was not rolled back)? */
  async isRewrittenTo(publicId: string): Promise<boolean> {
    const r = await this.db(`${RECORDS} as r`)
      .join(`${BATCHES} as b`, 'b.id', 'r.batch_id')
      .where({ 'r.public_id': publicId, 'r.outcome': Outcome.migrated, 'b.dry_run': false })
      .whereNot('r.reason', Reason.wouldMigrate)
      .whereNull('r.rolled_back_at')
      .first('r.id');
    return Boolean(r);
  }

  /**
   * What a migrate batch after a stage batch did: rows rewritten to their staged asset (no upload),
   * and the rows that had none, queued first, with how long after the batch began the last of them
   * was rewritten: how long they pointed at nothing once the storage was switched.
   */
  async rewriteFigures(batch: Batch): Promise<{ inPlace: number; rewrittenFirst: number; exposedMs: number | null }> {
    const inPlace = await this.db(RECORDS).where({ batch_id: batch.id, outcome: Outcome.migrated, reason: Reason.inPlace }).count({ n: '*' }).first();
    const first = (await this.db(RECORDS)
      .where({ batch_id: batch.id, outcome: Outcome.migrated, priority: 0 })
      .whereIn('reason', [Reason.uploaded, Reason.reused])
      .select(this.db.raw('count(*) as n'), this.db.raw('max(finished_at) as last'))
      .first()) as Row | undefined;
    const last = date(first?.last);
    return {
      inPlace: Number((inPlace as Row | undefined)?.n ?? 0),
      rewrittenFirst: Number(first?.n ?? 0),
      exposedMs: last ? Math.max(0, last.getTime() - batch.createdAt.getTime()) : null,
    };
  }
}
