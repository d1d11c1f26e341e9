import type { Knex } from 'knex';
import { claimSqliteWriteLock, dialectOf } from '../db/connect.ts';
import { BATCHES, RECORDS } from './migrations.ts';
import { Outcome } from '../outcomes.ts';
import type { RecordRef } from './types.ts';
import { type Row } from './rows.ts';

/**
 * Putting ended records back to pending: `retry-failed` (by outcome, reason or a list of rows), and the
 * missing records of a worker that turned out not to see the media.
 */
export class Reopening {
  constructor(readonly db: Knex) {}

  /** Puts failed records back to pending and says how many, for `retry-failed`. */
  async failed(batchId: number): Promise<number> {
    return (await this.where(batchId, { outcomes: [Outcome.failed] })).reduce((a, g) => a + g.count, 0);
  }

  /**
   * Puts the records of a batch with these outcomes (and, if given, reasons) back to pending, and
   * says how many of each outcome and reason it reopened.
   */
  async where(batchId: number, filter: { outcomes: readonly Outcome[]; reasons?: readonly string[] }): Promise<{ outcome: string; reason: string; count: number }[]> {
    return this.db.transaction(async (trx) => {
      if (dialectOf(trx) === 'sqlite') await claimSqliteWriteLock(trx, BATCHES, { id: batchId });
      const which = (q: Knex.QueryBuilder) => {
        q.where({ batch_id: batchId }).whereIn('outcome', [...filter.outcomes]);
        if (filter.reasons && filter.reasons.length > 0) q.whereIn('reason', [...filter.reasons]);
        return q;
      };
      const groups = (await which(trx(RECORDS)).select('outcome', 'reason').count({ n: '*' }).groupBy('outcome', 'reason')) as Row[];
      if (groups.length === 0) return [];
      await which(trx(RECORDS)).update({ outcome: Outcome.pending, finished_at: null, updated_at: trx.fn.now() });
      return groups.map((g) => ({ outcome: String(g.outcome), reason: String(g.reason ?? ''), count: Number(g.n) }));
    });
  }

  /**
   * Puts these records of a batch back to pending, whatever they ended as, except what is done for
   * good (migrated, staged) or still pending; says how many of each outcome and reason it reopened.
   */
  async listed(batchId: number, refs: readonly { table: string; column: string | undefined; pk: string }[]): Promise<{ outcome: string; reason: string; count: number }[]> {
    if (refs.length === 0) return [];
    const again = [Outcome.failed, Outcome.missing, Outcome.skipped, Outcome.notInPlace];
    const which = (q: Knex.QueryBuilder) =>
      q
        .where({ batch_id: batchId })
        .whereIn('outcome', again)
        .andWhere((w) => {
          for (const r of refs) w.orWhere((x) => x.where({ source_table: r.table, pk: r.pk, ...(r.column ? { source_column: r.column } : {}) }));
        });
    return this.db.transaction(async (trx) => {
      if (dialectOf(trx) === 'sqlite') await claimSqliteWriteLock(trx, BATCHES, { id: batchId });
      const groups = (await which(trx(RECORDS)).select('outcome', 'reason').count({ n: '*' }).groupBy('outcome', 'reason')) as Row[];
      if (groups.length > 0) await which(trx(RECORDS)).update({ outcome: Outcome.pending, finished_at: null, updated_at: trx.fn.now() });
      return groups.map((g) => ({ outcome: String(g.outcome), reason: String(g.reason ?? ''), count: Number(g.n) }));
    });
  }

  /** Puts these missing records of a batch back to pending (a worker that could not see the media marked them). */
  async missing(batchId: number, refs: readonly Omit<RecordRef, 'batchId'>[]): Promise<number> {
    if (refs.length === 0) return 0;
    return this.db(RECORDS)
      .where({ batch_id: batchId, outcome: Outcome.missing })
      .whereIn(['source_table', 'source_column', 'pk'], refs.map((r) => [r.table, r.column, r.pk]))
      .update({ outcome: Outcome.pending, reason: null, finished_at: null, updated_at: this.db.fn.now() });
  }
}
