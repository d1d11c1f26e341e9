import type { Knex } from 'knex';
import { BATCHES } from './migrations.ts';
import type { Batch, BatchSpec, MediaFingerprint } from './types.ts';
import { scopeColumn, toBatch, type Row } from './rows.ts';
import type { PendingSeeks } from './pending.ts';

/**
 * The batches: what each one covers and with which settings, and where it stands (recorded, halted,
 * rolled back). One row per `migrate` or `stage` run.
 */
export class Batches {
  constructor(readonly db: Knex, private readonly pending: PendingSeeks) {}

  async create(spec: BatchSpec, extra: { stageBatchId?: number | undefined } = {}): Promise<Batch> {
    const [row] = await this.db(BATCHES)
      .insert({
        kind: spec.kind,
        stage_batch_id: extra.stageBatchId ?? null,
        scope: scopeColumn(spec.scope),
        sources: JSON.stringify(spec.sources),
        claim_sources: spec.claimSources ? JSON.stringify(spec.claimSources) : null,
        store: spec.store,
        dry_run: spec.dryRun,
        prefix: spec.prefix,
        tag: spec.tag,
      })
      .returning('*');
    // MySQL has no RETURNING: knex then hands back the new id instead of the row.
    if (row && typeof row === 'object') return toBatch(row as Row);
    const batch = await this.get(Number(row));
    if (!batch) throw new Error('batch vanished right after insert');
    return batch;
  }

  async get(id: number): Promise<Batch | undefined> {
    const r = await this.db(BATCHES).where({ id }).first();
    return r ? toBatch(r) : undefined;
  }

  async latest(): Promise<Batch | undefined> {
    const r = await this.db(BATCHES).orderBy('id', 'desc').first();
    return r ? toBatch(r) : undefined;
  }

  async list(limit = 50): Promise<Batch[]> {
    const rows = await this.db(BATCHES).orderBy('id', 'desc').limit(limit);
    return rows.map(toBatch);
  }

  /**
   * The newest batch with the same settings that is not finished: running `migrate` again resumes it
   * rather than starting over. A batch is unfinished while its scan is incomplete or a record is pending.
   */
  async findResumable(spec: BatchSpec): Promise<Batch | undefined> {
    const scope = scopeColumn(spec.scope);
    const rows = await this.db(BATCHES)
      .where({ kind: spec.kind, store: spec.store, dry_run: spec.dryRun, prefix: spec.prefix, tag: spec.tag, sources: JSON.stringify(spec.sources) })
      .andWhere((w) => (scope === null ? w.whereNull('scope') : w.where('scope', scope)))
      .whereNull('rolled_back_at')
      .orderBy('id', 'desc')
      .limit(1);
    const b = rows[0] ? toBatch(rows[0]) : undefined;
    if (!b) return undefined;
    if (!b.enqueuedAt) return b;
    return (await this.pending.has(b.id)) ? b : undefined;
  }

  /** The newest stage batch that still stands (not rolled back) for this prefix: what a migrate batch rewrites. */
  async latestStage(prefix: string): Promise<Batch | undefined> {
    const r = await this.db(BATCHES).where({ kind: 'stage', prefix, dry_run: false }).whereNull('rolled_back_at').orderBy('id', 'desc').first();
    return r ? toBatch(r) : undefined;
  }

  /** The newest fingerprint an earlier batch (not rolled back) recorded of the media folder. */
  async latestFingerprint(beforeId: number): Promise<{ batchId: number; fingerprint: MediaFingerprint } | undefined> {
    const r = await this.db(BATCHES).where('id', '<', beforeId).whereNotNull('fingerprint').whereNull('rolled_back_at').orderBy('id', 'desc').first();
    const b = r ? toBatch(r) : undefined;
    return b?.fingerprint ? { batchId: b.fingerprint.from ?? b.id, fingerprint: b.fingerprint } : undefined;
  }

  async setFingerprint(batchId: number, fingerprint: MediaFingerprint): Promise<void> {
    await this.db(BATCHES).where({ id: batchId }).update({ fingerprint: JSON.stringify(fingerprint) });
  }

  async markEnqueued(batchId: number): Promise<void> {
    await this.db(BATCHES).where({ id: batchId }).update({ enqueued_at: this.db.fn.now() });
  }

  async halt(batchId: number, reason: string): Promise<void> {
    await this.db(BATCHES).where({ id: batchId }).update({ halted_reason: reason });
  }

  async clearHalt(batchId: number): Promise<void> {
    await this.db(BATCHES).where({ id: batchId }).update({ halted_reason: null });
  }

  /**
   * Batches whose records are being worked: not rolled back or halted, something pending, and fully
   * recorded — or, for a migrate batch, still being recorded: its workers start on the first records
   * (its records are recorded in queue order, so the window's cursor never passes one recorded later).
   * A stage batch waits until recorded: each record's collision check needs every claim (collisions.ts).
   */
  async open(limit = 20): Promise<Batch[]> {
    // Every process asks each second: one seek per candidate batch, rather than an EXISTS that
    // PostgreSQL answers with a scan of the records.
    const rows = await this.db(BATCHES)
      .where((w) => w.whereNotNull('enqueued_at').orWhere('kind', 'migrate')).whereNull('rolled_back_at').whereNull('halted_reason').orderBy('id', 'desc').limit(200);
    const open: Batch[] = [];
    for (const r of rows) {
      if (open.length >= limit) break;
      const b = toBatch(r);
      if (await this.pending.has(b.id)) open.push(b);
    }
    return open;
  }

  async markRolledBack(batchId: number): Promise<void> {
    await this.db(BATCHES).where({ id: batchId }).update({ rolled_back_at: this.db.fn.now() });
  }
}
