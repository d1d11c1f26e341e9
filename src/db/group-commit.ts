import type { Knex } from 'knex';
import { Batcher, type Settled } from './batcher.ts';
import { isConnectionError } from './connect.ts';

/**
 * Group commit: the writes of the records a process works on at once share one transaction. Each
 * record still waits for its own write to be committed before it goes on (the attempt is durable
 * before the upload; the row and the ledger change together), but thirty records pay one BEGIN, one
 * COMMIT and one WAL flush instead of thirty (the Batcher says when a group starts).
 *
 * A write is a function of the transaction, run once more if its group fails: when any write of a
 * group throws (a constraint, a trigger, a deadlock with another process), the whole group is rolled
 * back and each of its writes is committed on its own, so only the write that fails reports its
 * error. A write must therefore only touch the database, and decide from what it reads there.
 */
export class GroupCommit {
  private readonly batcher: Batcher<Write, unknown>;
  private closed = false;
  /** Transactions committed, the writes in them, and groups that had to be split; for the bench and the tests. */
  readonly stats = { transactions: 0, writes: 0, fallbacks: 0 };

  constructor(
    private readonly db: Knex,
    maxGroup = 64,
  ) {
    this.batcher = new Batcher((group) => this.commit(group), maxGroup);
  }

  run<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    if (this.closed) return this.db.transaction(work);
    return this.batcher.add(work) as Promise<T>;
  }

  /** Commits what is waiting; later writes go straight to their own transaction. */
  async close(): Promise<void> {
    this.closed = true;
    await this.batcher.drain();
  }

  private async commit(group: Write[]): Promise<Settled<unknown>[]> {
    if (group.length === 1) return [await this.alone(group[0]!)];
    try {
      const results = await this.db.transaction(async (trx) => {
        const out: unknown[] = [];
        for (const work of group) out.push(await work(trx));
        return out;
      });
      this.stats.transactions++;
      this.stats.writes += group.length;
      return results.map((value) => ({ value }));
    } catch (error) {
      // The database is gone: writing each alone would only fail N times more.
      if (isConnectionError(error)) return group.map(() => ({ error }));
      this.stats.fallbacks++;
      // Whichever write failed, none of the group is written: each goes again on its own.
      return Promise.all(group.map((work) => this.alone(work)));
    }
  }

  private async alone(work: Write): Promise<Settled<unknown>> {
    try {
      const value = await this.db.transaction((trx) => work(trx));
      this.stats.transactions++;
      this.stats.writes++;
      return { value };
    } catch (error) {
      return { error };
    }
  }
}

type Write = (trx: Knex.Transaction) => Promise<unknown>;
