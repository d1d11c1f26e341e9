import { Outcome } from './outcomes.ts';
import { restartWindow, type WindowDeps } from './queue-window.ts';

/** Which ended records to run again: outcomes (failed by default; missing once files are restored), optionally only some reasons. */
export interface RetryFilter {
  outcomes: readonly (typeof Outcome.failed | typeof Outcome.missing)[];
  reasons?: readonly string[] | undefined;
}

export interface RetryResult {
  requeued: number;
  byOutcome: Record<string, number>;
  byReason: Record<string, number>;
}

/**
 * Re-queues exactly the records of a batch the filter names: the ledger marks them pending again and
 * the batch's window starts again (see restartWindow), so the refills hand them over in queue order,
 * a window at a time however many there are. What `media-migrate retry-failed` and the dashboard's
 * buttons do.
 */
export async function retryRecords(deps: WindowDeps, batchId: number, filter: RetryFilter): Promise<RetryResult> {
  const { ledger, queue } = deps;
  const groups = await ledger.reopenWhere(batchId, filter);
  const result: RetryResult = { requeued: 0, byOutcome: {}, byReason: {} };
  for (const g of groups) {
    result.requeued += g.count;
    result.byOutcome[g.outcome] = (result.byOutcome[g.outcome] ?? 0) + g.count;
    result.byReason[g.reason] = (result.byReason[g.reason] ?? 0) + g.count;
  }
  if (result.requeued === 0) return result;
  await restartWindow(deps, batchId);
  return result;
}

