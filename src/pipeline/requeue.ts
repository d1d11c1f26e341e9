import { Outcome } from '../outcomes.ts';
import { restartWindow, type WindowDeps } from './queue-window.ts';
import { readRecordList } from '../config/record-list.ts';

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
  const groups = await ledger.reopen.where(batchId, filter);
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


/**
 * Re-queues exactly the records a file lists (`report --format csv` output, or `table,pk` lines),
 * of one batch, whatever they ended as but migrated or staged. Lines of other batches (a report's
 * `batch` column) are counted, not re-run.
 */
export async function retryListed(deps: WindowDeps, batchId: number, path: string): Promise<RetryResult & { otherBatches: number }> {
  const result = { requeued: 0, byOutcome: {} as Record<string, number>, byReason: {} as Record<string, number>, otherBatches: 0 };
  let page: { table: string; column: string | undefined; pk: string }[] = [];
  const flush = async () => {
    for (const g of await deps.ledger.reopen.listed(batchId, page)) {
      result.requeued += g.count;
      result.byOutcome[g.outcome] = (result.byOutcome[g.outcome] ?? 0) + g.count;
      result.byReason[g.reason] = (result.byReason[g.reason] ?? 0) + g.count;
    }
    page = [];
  };
  for await (const listed of readRecordList(path)) {
    if (listed.batch !== undefined && listed.batch !== batchId) {
      result.otherBatches++;
      continue;
    }
    page.push(listed);
    if (page.length >= 500) await flush();
  }
  await flush();
  if (result.requeued > 0) await restartWindow(deps, batchId);
  return result;
}
