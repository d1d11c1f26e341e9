import type { Knex } from 'knex';
import { RECORDS } from './migrations.ts';
import { addCount, emptyCounts, Outcome, Reason, type Counts } from '../outcomes.ts';
import type { LatencyBuckets, SourceCounts } from './types.ts';
import { date, timeParam, type Row } from './rows.ts';

/**
 * Read-only figures for `status`, the dashboard and its metrics, in portable SQL (no date functions):
 * counts by outcome, source and reason, throughput windows on the database's clock, upload latency.
 */
export class LedgerCounts {
  constructor(readonly db: Knex) {}

  async total(batchId: number): Promise<Counts> {
    const rows = await this.db(RECORDS).where({ batch_id: batchId }).select('outcome').count({ n: '*' }).groupBy('outcome');
    const c = emptyCounts();
    for (const r of rows as Row[]) addCount(c, String(r.outcome), Number(r.n));
    return c;
  }

  async bySource(batchId: number): Promise<SourceCounts[]> {
    const rows = await this.db(RECORDS)
      .where({ batch_id: batchId })
      .select('source_table', 'source_column', 'outcome')
      .count({ n: '*' })
      .groupBy('source_table', 'source_column', 'outcome');
    const by = new Map<string, SourceCounts>();
    for (const r of rows as Row[]) {
      const key = `${r.source_table}.${r.source_column}`;
      let c = by.get(key);
      if (!c) {
        c = { table: String(r.source_table), column: String(r.source_column), ...emptyCounts() };
        by.set(key, c);
      }
      addCount(c, String(r.outcome), Number(r.n));
    }
    return [...by.values()];
  }

  /**
   * What a rollback did to a batch, from its records: `restored` rows went back to their old value
   * (`rolled_back_at` set with the row's write), `left` still hold what the batch wrote (the app
   * changed them since, so the rollback kept its hands off). A dry run wrote nothing to restore.
   */
  async rolledBack(batchId: number, opts: { dryRun: boolean }): Promise<{ restored: number; left: number }> {
    if (opts.dryRun) return { restored: 0, left: 0 };
    const row = (await this.db(RECORDS)
      .where({ batch_id: batchId, outcome: Outcome.migrated })
      .whereNotNull('new_value')
      .select(
        this.db.raw('sum(case when rolled_back_at is not null then 1 else 0 end) as ??', ['restored']),
        // `left` is a keyword on every database: quoted as each one quotes identifiers.
        this.db.raw('sum(case when rolled_back_at is null then 1 else 0 end) as ??', ['left']),
      )
      .first()) as Row | undefined;
    return { restored: Number(row?.restored ?? 0), left: Number(row?.left ?? 0) };
  }

  async ofReason(batchId: number, outcome: Outcome, reason: Reason): Promise<number> {
    const r = (await this.db(RECORDS).where({ batch_id: batchId, outcome, reason }).count({ n: '*' }).first()) as Row | undefined;
    return Number(r?.n ?? 0);
  }

  /** How many records of a batch ended with each reason of one outcome, the most frequent first. */
  async byReason(batchId: number, outcome: Outcome): Promise<{ reason: string; count: number }[]> {
    const rows = (await this.db(RECORDS).where({ batch_id: batchId, outcome }).select('reason').count({ n: '*' }).groupBy('reason')) as Row[];
    return rows.map((r) => ({ reason: String(r.reason ?? ''), count: Number(r.n) })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  }

  /** The database's clock: `finished_at` is written by it, so throughput windows are measured by it. */
  async databaseNow(): Promise<Date> {
    const r = (await this.db.select(this.db.raw('CURRENT_TIMESTAMP as now')).first()) as Row | undefined;
    return date(r?.now) ?? new Date();
  }

  /**
   * How many records of a batch finished in each interval `[edges[i], edges[i+1])` (the last one
   * includes its end), in one query over the (batch_id, finished_at) index.
   */
  async finishedPerInterval(batchId: number, edges: readonly Date[]): Promise<number[]> {
    if (edges.length < 2) return [];
    const t = (d: Date) => timeParam(this.db, d);
    const last = edges.length - 2;
    const sums = edges.slice(0, -1).map((from, i) =>
      this.db.raw(`sum(case when finished_at >= ? and finished_at ${i === last ? '<=' : '<'} ? then 1 else 0 end) as ??`, [
        t(from),
        t(edges[i + 1]!),
        `n${i}`,
      ]),
    );
    const row = (await this.db(RECORDS)
      .where({ batch_id: batchId })
      .andWhere('finished_at', '>=', t(edges[0]!))
      .andWhere('finished_at', '<=', t(edges[edges.length - 1]!))
      .select(sums)
      .first()) as Row | undefined;
    return sums.map((_, i) => Number(row?.[`n${i}`] ?? 0));
  }

  /** How many records of a batch finished since `since`, and when the first of them did. */
  async finishedSince(batchId: number, since: Date): Promise<{ count: number; first: Date | undefined }> {
    const row = (await this.db(RECORDS)
      .where({ batch_id: batchId })
      .andWhere('finished_at', '>=', timeParam(this.db, since))
      .select(this.db.raw('count(*) as n'), this.db.raw('min(finished_at) as first'))
      .first()) as Row | undefined;
    return { count: Number(row?.n ?? 0), first: date(row?.first) };
  }

  /** Upload times (`upload_ms`) of some batches, bucketed at `boundsMs` (ascending), one entry per batch. */
  async uploadLatency(batchIds: readonly number[], boundsMs: readonly number[]): Promise<Map<number, LatencyBuckets>> {
    const out = new Map<number, LatencyBuckets>();
    if (batchIds.length === 0) return out;
    const cols = boundsMs.map((b, i) => this.db.raw('sum(case when upload_ms <= ? then 1 else 0 end) as ??', [b, `le${i}`]));
    const rows = (await this.db(RECORDS)
      .whereIn('batch_id', [...batchIds])
      .whereNotNull('upload_ms')
      .groupBy('batch_id')
      .select('batch_id', this.db.raw('count(*) as n'), this.db.raw('sum(upload_ms) as total'), ...cols)) as Row[];
    for (const r of rows) {
      out.set(Number(r.batch_id), {
        cumulative: boundsMs.map((_, i) => Number(r[`le${i}`] ?? 0)),
        count: Number(r.n ?? 0),
        sumMs: Number(r.total ?? 0),
      });
    }
    return out;
  }
}
