import { sourceType, type Batch, type BatchKind, type Ledger, type SourceCounts } from './ledger.ts';
import { isTextSource } from '../config/sources.ts';
import { sumCounts, thousands, type Counts } from '../outcomes.ts';
import { describeScope, isScoped, type BatchScope } from '../config/scope.ts';

export type BatchState = 'enqueuing' | 'running' | 'halted' | 'finished' | 'rolled_back';

/** What `status --json` prints and what the dashboard's API answers: one shape, one builder. */
export interface BatchStatus extends Counts {
  batch: number;
  kind: BatchKind;
  /** For a migrate batch: the stage batch whose assets it writes into rows (null when none). */
  stageBatch: number | null;
  /** What part of the library the batch covers (null: all of it), and in words. */
  scope: BatchScope | null;
  scopeText: string;
  state: BatchState;
  dryRun: boolean;
  store: string;
  createdAt: string;
  haltedReason: string | null;
  /** A rolled-back batch: rows its rollback restored, and rows it left (changed by the app since). Null otherwise. */
  rollback: { restored: number; left: number } | null;
  /** Per source, with what it holds: `image`, `raw` or `video` files, or media URLs inside `text`. */
  sources: (SourceCounts & { media: 'image' | 'raw' | 'video' | 'text' })[];
}

/**
 * `rolled back: 300 restored, 0 left` for a rolled-back batch, `recording: 120,000 records so far` for
 * one still being recorded (its workers are already at it: the total is not known yet), else its
 * state in words (`running`).
 */
export function stateText(s: Pick<BatchStatus, 'state' | 'kind' | 'rollback'> & { total?: number }): string {
  if (s.state === 'enqueuing') return `recording: ${thousands(s.total ?? 0)} records so far`;
  if (s.state !== 'rolled_back') return s.state;
  if (s.kind === 'stage') return 'rolled back (a stage batch writes no row)';
  return `rolled back: ${s.rollback?.restored ?? 0} restored, ${s.rollback?.left ?? 0} left`;
}

export function batchState(batch: Batch, counts: Counts): BatchState {
  if (batch.rolledBackAt) return 'rolled_back';
  if (batch.haltedReason) return 'halted';
  if (!batch.enqueuedAt) return 'enqueuing';
  return counts.pending > 0 ? 'running' : 'finished';
}

export async function batchStatus(ledger: Ledger, batch: Batch): Promise<BatchStatus> {
  const sources = await ledger.counts.bySource(batch.id);
  const counts = sumCounts(sources);
  return {
    batch: batch.id,
    kind: batch.kind,
    stageBatch: batch.stageBatchId ?? null,
    scope: isScoped(batch.scope) ? batch.scope : null,
    scopeText: describeScope(batch.scope),
    ...counts,
    state: batchState(batch, counts),
    dryRun: batch.dryRun,
    store: batch.store,
    createdAt: batch.createdAt.toISOString(),
    haltedReason: batch.haltedReason ?? null,
    rollback: batch.rolledBackAt ? await ledger.counts.rolledBack(batch.id, { dryRun: batch.dryRun }) : null,
    sources: sources.map((x) => ({ ...x, media: mediaOf(batch, x) })),
  };
}

function mediaOf(batch: Batch, ref: { table: string; column: string }): 'image' | 'raw' | 'video' | 'text' {
  const source = batch.sources.find((s) => s.table === ref.table && s.column === ref.column);
  return source && isTextSource(source) ? 'text' : sourceType(batch, ref);
}
