import type { Batch, Ledger, SourceCounts } from './ledger.ts';
import type { Counts } from './outcomes.ts';

export type BatchState = 'enqueuing' | 'running' | 'halted' | 'finished' | 'rolled_back';

/** What `status --json` prints and what the dashboard's API answers: one shape, one builder. */
export interface BatchStatus extends Counts {
  batch: number;
  state: BatchState;
  dryRun: boolean;
  store: string;
  createdAt: string;
  haltedReason: string | null;
  sources: SourceCounts[];
}

export function batchState(batch: Batch, counts: Counts): BatchState {
  if (batch.rolledBackAt) return 'rolled_back';
  if (batch.haltedReason) return 'halted';
  if (!batch.enqueuedAt) return 'enqueuing';
  return counts.pending > 0 ? 'running' : 'finished';
}

export async function batchStatus(ledger: Ledger, batch: Batch): Promise<BatchStatus> {
  const sources = await ledger.countsBySource(batch.id);
  const counts = sources.reduce<Counts>(
    (a, s) => ({
      total: a.total + s.total,
      migrated: a.migrated + s.migrated,
      missing: a.missing + s.missing,
      skipped: a.skipped + s.skipped,
      failed: a.failed + s.failed,
      pending: a.pending + s.pending,
    }),
    { total: 0, migrated: 0, missing: 0, skipped: 0, failed: 0, pending: 0 },
  );
  return {
    batch: batch.id,
    ...counts,
    state: batchState(batch, counts),
    dryRun: batch.dryRun,
    store: batch.store,
    createdAt: batch.createdAt.toISOString(),
    haltedReason: batch.haltedReason ?? null,
    sources,
  };
}
