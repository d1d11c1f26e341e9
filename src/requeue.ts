import { Outcome } from './outcomes.ts';
import { jobIdFor, type RecordQueue } from './queue.ts';
import { refillWindow, resetWindow, type WindowDeps } from './queue-window.ts';

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
 * Re-queues exactly the records of a batch the filter names: the ledger marks them pending again,
 * the finished jobs Redis still keeps for bull-board are removed where their record is pending again
 * (a job id Redis holds would make the new add a no-op), and the batch's window starts again from its
 * first pending record, so the refills hand them over in queue order, a window at a time however many
 * there are. What `media-migrate retry-failed` and the dashboard's buttons do.
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
  await removeFinishedJobs(deps, batchId);
  await resetWindow(deps, batchId);
  const batch = await ledger.getBatch(batchId);
  if (batch) await refillWindow(deps, batch);
  return result;
}

/** Re-queues the failed records of a batch: `retry-failed` as it always was. */
export async function retryFailed(deps: WindowDeps, batchId: number): Promise<number> {
  return (await retryRecords(deps, batchId, { outcomes: [Outcome.failed] })).requeued;
}

/** The finished jobs of this batch Redis still keeps (its removeOnComplete/removeOnFail counts) whose record is pending again. */
async function removeFinishedJobs(deps: WindowDeps, batchId: number): Promise<void> {
  const mine = `${jobIdFor({ batchId, table: 't', column: 'c', pk: 'p' }).split('-')[0]}-`;
  const queue: RecordQueue = deps.queue;
  const jobs = [...(await queue.getFailed(0, -1)), ...(await queue.getCompleted(0, -1))].filter((j) => j.id?.startsWith(mine));
  for (const job of jobs) {
    const rec = await deps.ledger.getRecord({ batchId, table: job.data.t, column: job.data.c, pk: job.data.pk });
    if (rec?.outcome === Outcome.pending) await job.remove();
  }
}
