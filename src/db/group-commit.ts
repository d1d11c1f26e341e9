import type { Knex } from 'knex';
import { Batcher, type Settled } from './batcher.ts';
import { isConnectionError } from './connect.ts';

/**
 * Group commit: the writes of the records a process works on at once share one transaction. Each
 * record still waits for its own write to be committed before it goes on (the attempt is durable
 * before the upload; the row and the ledger change together), but thirty records pay one BEGIN, one
 * COMMIT and one WAL flush instead of thirty (the Batcher says when a group starts).
 *
 * `writeAll` writes a group's items in the transaction it is given and answers each in order; it may
 * run once more for an item, alone: when a group fails (a constraint, a trigger, a deadlock with
 * another process), the whole group is rolled back and each item is written in a transaction of its
 * own, so only the item at fault reports its error. A write must therefore only touch the database,
 * and decide from what it reads there.
 */
export class GroupCommit<I, R> {
  private readonly batcher: Batcher<I, R>;
  private closed = false;
  /** Transactions committed, the items in them, and groups that had to be split; for the bench and the tests. */
  readonly stats = { transactions: 0, writes: 0, fallbacks: 0 };

  constructor(
    private readonly db: Knex,
    private readonly writeAll: (trx: Knex.Transaction, items: I[]) => Promise<R[]>,
    maxGroup = 64,
  ) {
    this.batcher = new Batcher((group) => this.commit(group), maxGroup);
  }

  add(item: I): Promise<R> {
    if (this.closed) return this.alone(item).then((s) => ('error' in s ? Promise.reject(s.error) : s.value));
    return this.batcher.add(item);
  }

  /** Commits what is waiting; later items go straight to their own transaction. */
  async close(): Promise<void> {
    this.closed = true;
    await this.batcher.drain();
  }

  private async commit(group: I[]): Promise<Settled<R>[]> {
    if (group.length === 1) return [await this.alone(group[0]!)];
    try {
      const results = await this.db.transaction((trx) => this.writeAll(trx, group));
      this.stats.transactions++;
      this.stats.writes += group.length;
      return results.map((value) => ({ value }));
    } catch (error) {
      // The database is gone: writing each alone would only fail N times more.
      if (isConnectionError(error)) return group.map(() => ({ error }));
      this.stats.fallbacks++;
      // Whichever write failed, none of the group is written: each goes again on its own.
      return Promise.all(group.map((item) => this.alone(item)));
    }
  }

  private async alone(item: I): Promise<Settled<R>> {
    try {
      const [value] = await this.db.transaction((trx) => this.writeAll(trx, [item]));
      this.stats.transactions++;
      this.stats.writes++;
      return { value: value as R };
    } catch (error) {
      return { error };
    }
  }
}

/** A write of one record's own making (groupCommitOfWrites). */
export type Write<T = unknown> = (trx: Knex.Transaction) => Promise<T>;

/** A group commit of arbitrary writes, run one after another in the group's transaction. */
export function groupCommitOfWrites(db: Knex, maxGroup?: number): GroupCommit<Write, unknown> {
  return new GroupCommit<Write, unknown>(
    db,
    async (trx, writes) => {
      const out: unknown[] = [];
      for (const write of writes) out.push(await write(trx));
      return out;
    },
    maxGroup,
  );
}
