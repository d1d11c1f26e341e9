import type { Knex } from 'knex';
import { whereExactly } from './db.ts';
import type { Logger } from 'pino';
import type { Batch, Ledger, LedgerRecord } from './ledger.ts';
import { Outcome } from './outcomes.ts';
import type { Uploader } from './uploader.ts';

export interface RollbackResult {
  restored: number;
  /** Rows that no longer hold what the batch wrote: the app changed them since, so they stay. */
  left: LedgerRecord[];
  cancelled: number;
  deletedAssets: number;
  keptAssets: number;
}

/**
 * Puts back every value the batch wrote, one row at a time and only where the row still holds the
 * batch's value, each in a transaction with its ledger mark. Records still pending are cancelled
 * first so no worker migrates them afterwards. With an uploader, the batch's assets that no other
 * batch's row points at are deleted from Cloudinary too.
 */
export async function rollbackBatch(
  deps: { db: Knex; ledger: Ledger; logger: Logger; uploader?: Uploader | undefined },
  batch: Batch,
): Promise<RollbackResult> {
  const { db, ledger } = deps;
  const cancelled = await ledger.cancelPending(batch.id);
  const result: RollbackResult = { restored: 0, left: [], cancelled, deletedAssets: 0, keptAssets: 0 };
  const source = new Map(batch.sources.map((s) => [`${s.table}.${s.column}`, s]));
  const assets = new Set<string>();
  let after = 0;
  for (;;) {
    const page = await ledger.records(batch.id, { outcome: Outcome.migrated, afterId: after, limit: 500 });
    if (page.length === 0) break;
    after = page[page.length - 1]!.id;
    for (const r of page) {
      if (r.publicId && r.reason !== 'would_migrate') assets.add(r.publicId);
      if (r.rolledBackAt || batch.dryRun || r.newValue === undefined) continue;
      const s = source.get(`${r.table}.${r.column}`);
      if (!s) continue;
      const restored = await db.transaction(async (trx) => {
        const n = await whereExactly(trx, trx(s.table).where(s.pk, r.pk), s.column, r.newValue!).update({
          [s.column]: r.oldValue ?? null,
        });
        if (n > 0) await ledger.markRolledBack(trx, r.id);
        return n > 0;
      });
      if (restored) result.restored++;
      else result.left.push(r);
    }
  }
  await ledger.markBatchRolledBack(batch.id);
  if (deps.uploader && !batch.dryRun) {
    for (const publicId of assets) {
      if (await ledger.isPublicIdWanted(publicId)) {
        result.keptAssets++;
        continue;
      }
      if (await deps.uploader.destroy(publicId)) result.deletedAssets++;
    }
  }
  deps.logger.info({ batch: batch.id, restored: result.restored, left: result.left.length, cancelled }, 'batch rolled back');
  return result;
}
