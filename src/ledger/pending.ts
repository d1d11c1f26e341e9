import type { Knex } from 'knex';
import { dialectOf } from '../db/connect.ts';
import { RECORDS } from './migrations.ts';
import { Outcome } from '../outcomes.ts';
import type { LedgerRecord, WindowRecord } from './types.ts';
import type { Source } from '../config/sources.ts';
import { WINDOW_COLUMNS, toRecord, toWindowRecord, type Row } from './rows.ts';

/**
 * The seeks the queue window lives on: which records of a batch are still pending, in queue order
 * (priority, then id), asked many times a second by every process, so each is one index seek.
 */
export class PendingSeeks {
  constructor(readonly db: Knex) {}

  async among(batchId: number, source: Source, pks: readonly string[]): Promise<Set<string>> {
    if (pks.length === 0) return new Set();
    const q = this.db(RECORDS)
      .where({ batch_id: batchId, source_table: source.table, source_column: source.column, outcome: Outcome.pending })
      .select('pk');
    // PostgreSQL: one array parameter rather than a 1,000-item IN list.
    if (dialectOf(this.db) === 'pg') q.whereRaw('pk = any(?::text[])', [[...pks]]);
    else q.whereIn('pk', [...pks]);
    const rows = await q;
    return new Set(rows.map((r: Row) => String(r.pk)));
  }

  /** Pending records in id order, a page at a time (keyset on id, so memory stays flat); one priority if given. */
  async page(batchId: number, afterId: number, limit: number, priority?: number): Promise<LedgerRecord[]> {
    const q = this.db(RECORDS).where({ batch_id: batchId, outcome: Outcome.pending });
    if (priority !== undefined) q.andWhere({ priority });
    const rows = await q.andWhere('id', '>', afterId).orderBy('id').limit(limit);
    return rows.map(toRecord);
  }

  /** Pending records after a cursor in queue order (priority, then id): the next page of a batch's window. */
  async after(batchId: number, cursor: { priority: number; id: number }, limit: number): Promise<WindowRecord[]> {
    // A row comparison: the queue-order index seeks straight to the cursor (an OR of the two cases
    // made PostgreSQL read every pending entry before it, ~50 ms a page on a million records).
    // Only what a job and the cursor need: parsing every column of a thousand records (their
    // timestamps above all) held the event loop while the first uploads waited.
    const rows = await this.db(RECORDS)
      .where({ batch_id: batchId, outcome: Outcome.pending })
      .andWhereRaw('(priority, id) > (?, ?)', [cursor.priority, cursor.id])
      .orderBy([{ column: 'priority' }, { column: 'id' }])
      .limit(limit)
      .select(WINDOW_COLUMNS);
    return rows.map(toWindowRecord);
  }

  /**
   * Pending records at or before a cursor in queue order: those the window has handed to Redis and
   * that have not finished, i.e. about the batch's jobs in Redis. Counted up to `max` (a seek and a
   * bounded read of the queue-order index).
   */
  async handedOver(batchId: number, cursor: { priority: number; id: number }, max: number): Promise<number> {
    const inner = this.db(RECORDS)
      .where({ batch_id: batchId, outcome: Outcome.pending })
      .andWhereRaw('(priority, id) <= (?, ?)', [cursor.priority, cursor.id])
      .select('id')
      .limit(max)
      .as('handed');
    const r = (await this.db.from(inner).count({ n: '*' }).first()) as { n: number | string } | undefined;
    return Number(r?.n ?? 0);
  }

  /**
   * Is any record of the batch still pending? The first entry of the queue-order index: cheap enough
   * to ask many times a second. (Without the ORDER BY, PostgreSQL expects pending rows everywhere and
   * scans the table for one: 30+ ms on a million records, a core's worth at this rate.)
   */
  async has(batchId: number): Promise<boolean> {
    return Boolean(await this.db(RECORDS).where({ batch_id: batchId, outcome: Outcome.pending }).orderBy([{ column: 'priority' }, { column: 'id' }]).first('id'));
  }

  /** Has the batch a record of this priority, whatever its outcome? (Where recording a batch after a stage batch got to.) */
  async hasPriority(batchId: number, priority: number): Promise<boolean> {
    return Boolean(await this.db(RECORDS).where({ batch_id: batchId, priority }).first('id'));
  }

  /** Has any record of the batch been attempted or ended? (A batch whose window is new has none.) */
  async hasProgress(batchId: number): Promise<boolean> {
    const r = await this.db(RECORDS)
      .where({ batch_id: batchId })
      .andWhere((w) => w.where('attempts', '>', 0).orWhereNot('outcome', Outcome.pending))
      .first('id');
    return Boolean(r);
  }
}
