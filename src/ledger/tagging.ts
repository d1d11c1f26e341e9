import type { Knex } from 'knex';
import { RECORDS } from './migrations.ts';
import { Outcome } from '../outcomes.ts';
import type { LedgerRecord } from './types.ts';
import { timeParam, toRecord } from './rows.ts';

/**
 * MEDIA_TAG is given to an asset only once a row holds its id (deleteorphanedmedia deletes tagged
 * assets no row holds): these are the records still waiting for it, swept by every worker.
 */
export class TaggingState {
  constructor(readonly db: Knex) {}

  /** Migrated records whose asset still waits for MEDIA_TAG, oldest first, finished before `before`. */
  async untagged(limit: number, opts: { batchId?: number; before?: Date } = {}): Promise<LedgerRecord[]> {
    const q = this.db(RECORDS).where({ tagged: false, outcome: Outcome.migrated }).whereNull('rolled_back_at');
    if (opts.batchId !== undefined) q.andWhere({ batch_id: opts.batchId });
    if (opts.before) q.andWhere('finished_at', '<', timeParam(this.db, opts.before));
    return (await q.orderBy('id').limit(limit)).map(toRecord);
  }

  async markTagged(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db(RECORDS).whereIn('id', [...ids]).where({ tagged: false }).update({ tagged: true });
  }

  /** Of these records, the ones rolled back meanwhile (their asset must not keep MEDIA_TAG). */
  async rolledBackAmong(ids: readonly number[]): Promise<LedgerRecord[]> {
    if (ids.length === 0) return [];
    return (await this.db(RECORDS).whereIn('id', [...ids]).whereNotNull('rolled_back_at')).map(toRecord);
  }
}
