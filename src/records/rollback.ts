import type { Knex } from 'knex';
import { inPlaceId } from '../cloudinary/in-place-id.ts';
import { whereExactly, whereTextIs } from '../db/connect.ts';
import { isTextSource } from '../config/sources.ts';
import type { Logger } from 'pino';
import { sourceType, type Batch, type Ledger, type LedgerRecord } from '../ledger/ledger.ts';
import type { ResourceType } from '../config/sources.ts';
import { Outcome, Reason } from '../outcomes.ts';
import type { Uploader } from '../cloudinary/uploader.ts';

export interface RollbackResult {
  restored: number;
  /** Rows that no longer hold what the batch wrote: the app changed them since, so they stay. */
  left: LedgerRecord[];
  cancelled: number;
  deletedAssets: number;
  keptAssets: number;
  /** In-place assets whose rows went back to their file paths: MEDIA_TAG removed again. */
  untagged: number;
  /**
   * Stage batches only: rows that still hold a value a deleted staged asset served. Harmless while
   * the app's storage is the file system; broken images if it is already MediaCloudinaryStorage.
   */
  rowsServedByDeleted: number;
}

export interface RollbackDeps {
  db: Knex;
  ledger: Ledger;
  logger: Logger;
  /** Needed to delete assets, and to take MEDIA_TAG back from in-place assets. */
  uploader?: Uploader | undefined;
  deleteAssets: boolean;
}

/**
 * Undoes a batch. A migrate batch: every value it wrote is put back, one row at a time and only where
 * the row still holds the batch's value, each in a transaction with its ledger mark. A row rewritten
 * to its staged asset goes back to its file path, which that asset still serves, so rolling back is
 * zero-downtime too; the asset loses MEDIA_TAG again so `deleteorphanedmedia` cannot take it for an
 * orphan. A stage batch wrote no row; `--delete-assets` removes the assets it created that no row has
 * been rewritten to and no other standing stage batch placed. Records still pending are cancelled
 * first so no worker acts on them afterwards.
 */
export async function rollbackBatch(deps: RollbackDeps, batch: Batch): Promise<RollbackResult> {
  const { ledger } = deps;
  const cancelled = await ledger.records.cancelPending(batch.id);
  const result: RollbackResult = { restored: 0, left: [], cancelled, deletedAssets: 0, keptAssets: 0, untagged: 0, rowsServedByDeleted: 0 };
  if (batch.kind === 'stage') {
    await ledger.batches.markRolledBack(batch.id);
    if (deps.deleteAssets && deps.uploader) await deleteStagedAssets(deps, deps.uploader, batch, result);
  } else {
    await restoreRows(deps, batch, result);
  }
  deps.logger.info({ batch: batch.id, kind: batch.kind, restored: result.restored, left: result.left.length, cancelled }, 'batch rolled back');
  return result;
}

async function restoreRows(deps: RollbackDeps, batch: Batch, result: RollbackResult): Promise<void> {
  const { db, ledger } = deps;
  const source = new Map(batch.sources.map((s) => [`${s.table}.${s.column}`, s]));
  // Keyed by resource type and id: each type is its own namespace of ids.
  const assets = new Map<string, { id: string; type: ResourceType }>();
  const untag = new Map<string, { id: string; type: ResourceType }>();
  const asset = (r: LedgerRecord) => ({ id: r.publicId!, type: sourceType(batch, r) });
  // A text record that ended missing or failed may still have rewritten the references it could.
  const outcomes = batch.sources.some(isTextSource) ? [Outcome.migrated, Outcome.missing, Outcome.failed] : [Outcome.migrated];
  for (const outcome of outcomes) for (let after = 0; ; ) {
    const page = await ledger.records.list(batch.id, { outcome, afterId: after, limit: 500 });
    if (page.length === 0) break;
    after = page[page.length - 1]!.id;
    for (const r of page) {
      // An in-place asset belongs to its stage batch, which still needs it: never the rewrite's to delete.
      if (r.publicId && r.reason !== Reason.wouldMigrate && r.reason !== Reason.inPlace) assets.set(`${sourceType(batch, r)}:${r.publicId}`, asset(r));
      if (r.rolledBackAt || batch.dryRun || r.newValue === undefined) continue;
      const s = source.get(`${r.table}.${r.column}`);
      if (!s || (outcome !== Outcome.migrated && !isTextSource(s))) continue;
      const restored = await db.transaction(async (trx) => {
        const exact = isTextSource(s) ? whereTextIs : whereExactly;
        const n = await exact(trx, trx(s.table).where(s.pk, r.pk), s.column, r.newValue!).update({
          [s.column]: r.oldValue ?? null,
        });
        if (n > 0) await ledger.records.markRolledBack(trx, r.id);
        return n > 0;
      });
      if (!restored) {
        result.left.push(r);
        continue;
      }
      result.restored++;
      if (r.reason === Reason.inPlace && r.publicId) untag.set(`${sourceType(batch, r)}:${r.publicId}`, asset(r));
    }
  }
  await ledger.batches.markRolledBack(batch.id);
  if (deps.uploader && untag.size > 0) {
    for (const type of new Set([...untag.values()].map((a) => a.type))) {
      const still = [];
      for (const a of untag.values()) if (a.type === type && !(await ledger.cutover.isRewrittenTo(a.id))) still.push(a.id);
      await deps.uploader.removeTag(batch.tag, still, type);
      result.untagged += still.length;
    }
  }
  if (deps.deleteAssets && deps.uploader && !batch.dryRun) {
    for (const { id, type } of assets.values()) {
      if (await ledger.records.isPublicIdWanted(id)) {
        result.keptAssets++;
        continue;
      }
      if (await deps.uploader.destroy(id, type)) result.deletedAssets++;
    }
  }
}

async function deleteStagedAssets(deps: RollbackDeps, uploader: Uploader, batch: Batch, result: RollbackResult): Promise<void> {
  const { db, ledger } = deps;
  const source = new Map(batch.sources.map((s) => [`${s.table}.${s.column}`, s]));
  for await (const r of ledger.records.each(batch.id, Outcome.staged)) {
    const id = r.publicId;
    if (!id || r.etag === undefined) continue;
    // Only what this batch created, and only while nothing else needs it.
    if (!(await ledger.cutover.placedByUs(id, r.etag)) || (await ledger.records.isPublicIdWanted(id))) {
      result.keptAssets++;
      continue;
    }
    const type = sourceType(batch, r);
    if (await uploader.destroy(id, type)) result.deletedAssets++;
    const s = source.get(`${r.table}.${r.column}`);
    if (!s) continue;
    const row = (await db(s.table).where(s.pk, r.pk).first(s.column)) as Record<string, unknown> | undefined;
    const value = row?.[s.column];
    if (typeof value === 'string' && value !== '' && inPlaceId(value, batch.prefix, type) === id) result.rowsServedByDeleted++;
  }
}
