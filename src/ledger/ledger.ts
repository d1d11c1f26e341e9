import type { Knex } from 'knex';
import { TextAssets } from './assets.ts';
import { Batches } from './batches.ts';
import { LedgerCounts } from './counts.ts';
import { CutoverRecords } from './cutover.ts';
import { openIdentity, type LedgerIdentity } from './identity.ts';
import { ManyRecords } from './many-records.ts';
import { migrateLedger } from './migrations.ts';
import { PendingSeeks } from './pending.ts';
import { Records } from './records.ts';
import { Reopening } from './reopen.ts';
import { TaggingState } from './tagging.ts';

export * from './types.ts';
export type { LedgerIdentity } from './identity.ts';

/**
 * The durable record of a migration, in the app's own database: one row per batch, one row per
 * (batch, table, column, pk). Every count anyone sees comes from here, so it survives losing Redis,
 * and every change to an app row is written in the same transaction as its ledger row.
 *
 * One handle for the callers that pass "the ledger" around; each concern is its own module, so a
 * reader follows a record through `records`, the window through `pending`, the cutover through `cutover`.
 */
export class Ledger {
  readonly pending: PendingSeeks;
  readonly batches: Batches;
  readonly records: Records;
  /** Group commit's statements: many records read or written at once. */
  readonly many: ManyRecords;
  readonly cutover: CutoverRecords;
  readonly tagging: TaggingState;
  readonly counts: LedgerCounts;
  readonly reopen: Reopening;
  readonly assets: TextAssets;
  /** The ledger's identity (identity.ts), known once `open()` has run: it namespaces this ledger's Redis keys. */
  id: string | undefined;

  constructor(readonly db: Knex) {
    this.pending = new PendingSeeks(db);
    this.batches = new Batches(db, this.pending);
    this.records = new Records(db);
    this.many = new ManyRecords(db, this.records);
    this.cutover = new CutoverRecords(db);
    this.tagging = new TaggingState(db);
    this.counts = new LedgerCounts(db);
    this.reopen = new Reopening(db);
    this.assets = new TextAssets(db);
  }

  migrate(): Promise<void> {
    return migrateLedger(this.db);
  }

  /** Brings the schema up to date and reads the ledger's identity: what every command does first. */
  async open(): Promise<LedgerIdentity> {
    await this.migrate();
    const identity = await openIdentity(this.db);
    this.id = identity.id;
    return identity;
  }
}
