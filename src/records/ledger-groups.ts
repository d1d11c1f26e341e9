import type { Knex } from 'knex';
import { Batcher, type Settled } from '../db/batcher.ts';
import { GroupCommit, groupCommitOfWrites, type Write } from '../db/group-commit.ts';
import type { AttemptFields, Finish, Ledger, RecordRef, WithRow } from '../ledger/ledger.ts';
import { swapValues } from '../db/swap-values.ts';
import { isConnectionError } from '../db/connect.ts';
import type { Source } from '../config/sources.ts';

/** A record's last write: its outcome, and its app row's new value if the row still holds the old. */
export interface RowWrite {
  /** The ledger record, claimed with `migrated` while it is still open. */
  id: number;
  source: Source;
  pk: string;
  oldValue: string;
  newValue: string;
  migrated: Finish;
  /** Written instead when the row no longer holds oldValue (the app changed it meanwhile). */
  changed: Finish;
}

/** migrated: row and ledger written; changed: the app's write won, noted; decided: another run had ended the record. */
export type RowWritten = 'migrated' | 'changed' | 'decided';

/**
 * The ledger round trips the records of one process share: the records it works on at once read
 * their ledger and app rows in two queries, note their attempts in one statement, and write their
 * outcomes and rows in one transaction (group commit). Each record still waits for its own answer
 * before it goes on, so every promise of the ledger holds record by record: the attempt is durable
 * before its upload, a row and its outcome change together, and a replay finds what was decided.
 */
export class LedgerGroups {
  readonly writes: GroupCommit<Write, unknown>;
  /** The records' last writes: their statistics tell the bench and the tests how they were grouped. */
  readonly rows: GroupCommit<RowWrite, RowWritten>;
  private readonly reads: Batcher<{ ref: RecordRef; source: Source }, WithRow | undefined>;
  private readonly attempts: Batcher<{ id: number; fields: AttemptFields }, undefined>;

  constructor(
    db: Knex,
    private readonly ledger: Ledger,
  ) {
    this.writes = groupCommitOfWrites(db);
    this.rows = new GroupCommit(db, (trx, items) => this.writeRowsIn(trx, items));
    this.reads = new Batcher((items) => this.readAll(items));
    this.attempts = new Batcher<{ id: number; fields: AttemptFields }, undefined>((items) => this.noteAll(items));
  }

  /** The record's ledger row and its app row's current value. */
  getWithRow(ref: RecordRef, source: Source): Promise<WithRow | undefined> {
    return this.reads.add({ ref, source });
  }

  /** Notes an attempt before its upload; resolves once it is committed. */
  async noteAttempt(id: number, fields: AttemptFields): Promise<void> {
    await this.attempts.add({ id, fields });
  }

  /**
   * The row's compare-and-swap and the record's outcome, in one transaction with the other records'
   * that arrive together: one statement claims all their ledger rows, one swaps the app rows of each
   * table, one notes those the app changed meanwhile. If that transaction fails, each record is
   * written on its own, so only the one at fault sees the error.
   */
  writeRow(w: RowWrite): Promise<RowWritten> {
    return this.rows.add(w);
  }

  /** Runs a record's writes in its group's transaction (see GroupCommit). */
  run<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.writes.add(work) as Promise<T>;
  }

  async close(): Promise<void> {
    await Promise.all([this.reads.drain(), this.attempts.drain(), this.rows.close(), this.writes.close()]);
  }

  /**
   * One statement for the group's attempts (atomic on its own: no transaction needed). If it fails
   * for another reason than a lost database, each attempt is noted alone: a record the database
   * refuses must not fail its neighbours' attempts again at every retry.
   */
  private async noteAll(items: { id: number; fields: AttemptFields }[]): Promise<Settled<undefined>[]> {
    try {
      await this.ledger.many.noteAttempts(items);
      return items.map(() => ({ value: undefined }));
    } catch (error) {
      if (items.length === 1 || isConnectionError(error)) return items.map(() => ({ error }));
      return Promise.all(
        items.map((a) =>
          this.ledger.records.noteAttempt(a.id, a.fields).then(
            () => ({ value: undefined }),
            (e: unknown) => ({ error: e }),
          ),
        ),
      );
    }
  }

  private async readAll(items: { ref: RecordRef; source: Source }[]): Promise<Settled<WithRow | undefined>[]> {
    // One pair of queries per batch and source in the group.
    const groups = new Map<string, { batchId: number; source: Source; pks: string[] }>();
    for (const { ref, source } of items) {
      const key = JSON.stringify([ref.batchId, source.table, source.column]);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { batchId: ref.batchId, source, pks: [] }));
      g.pks.push(ref.pk);
    }
    const found = new Map<string, Map<string, WithRow>>();
    // A key alone is read by the one-record query (one round trip where the pair would be two).
    for (const [key, g] of groups) if (g.pks.length > 1) found.set(key, await this.ledger.many.getWithRows(g.batchId, g.source, g.pks));
    return Promise.all(
      items.map(async ({ ref, source }) => {
        const hit = found.get(JSON.stringify([ref.batchId, source.table, source.column]))?.get(ref.pk);
        try {
          // Alone in its group, or not found as a group (no ledger row yet, or a key the app spells otherwise).
          return { value: hit ?? (await this.ledger.records.getWithRow(ref, source)) };
        } catch (error) {
          return { error };
        }
      }),
    );
  }

  private async writeRowsIn(trx: Knex.Transaction, items: RowWrite[]): Promise<RowWritten[]> {
    const claimed = await this.ledger.many.finishMany(
      trx,
      items.map((w) => ({ id: w.id, f: w.migrated })),
    );
    const bySource = new Map<string, RowWrite[]>();
    for (const w of items) {
      if (!claimed.has(w.id)) continue;
      const key = JSON.stringify([w.source.table, w.source.column]);
      const list = bySource.get(key) ?? [];
      // Two records of one row in a group (two batches at once): CASE could not tell them apart.
      if (list.some((x) => x.pk === w.pk)) throw new Error(`${w.source.table}[${w.pk}] twice in one group`);
      bySource.set(key, [...list, w]);
    }
    const swapped = new Set<RowWrite>();
    for (const list of bySource.values()) {
      const { table, pk, column } = list[0]!.source;
      const changed = await swapValues(trx, table, pk, column, list.map((w) => ({ pk: w.pk, from: w.oldValue, to: w.newValue })));
      for (const w of list) if (changed.has(w.pk)) swapped.add(w);
    }
    const lost = items.filter((w) => claimed.has(w.id) && !swapped.has(w));
    await this.ledger.many.finishMany(
      trx,
      lost.map((w) => ({ id: w.id, f: w.changed })),
      { evenIfDecided: true },
    );
    return items.map((w) => (!claimed.has(w.id) ? 'decided' : swapped.has(w) ? 'migrated' : 'changed'));
  }
}
