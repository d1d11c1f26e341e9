import { jobIdFor } from './queue.ts';
import { refillWindow, resetWindow, type WindowDeps } from './queue-window.ts';

/**
 * Re-queues exactly the failed records of a batch: the ledger marks them pending again, the failed
 * jobs Redis still keeps for bull-board are removed (a job id Redis holds would make the new add a
 * no-op), and the batch's window starts again from its first pending record, so the refills hand
 * them over in queue order, a window at a time however many there are. What `media-migrate
 * retry-failed` and the dashboard's button both do. Returns how many records were reopened.
 */
export async function retryFailed(deps: WindowDeps, batchId: number): Promise<number> {
  const { ledger, queue } = deps;
  const reopened = await ledger.reopenFailed(batchId);
  if (reopened === 0) return 0;
  await removeFailedJobs(queue, batchId);
  await resetWindow(deps, batchId);
  const batch = await ledger.getBatch(batchId);
  if (batch) await refillWindow(deps, batch);
  return reopened;
}

/** The failed jobs of this batch that Redis still keeps (at most its removeOnFail count). */
async function removeFailedJobs(queue: WindowDeps['queue'], batchId: number): Promise<void> {
  const mine = `${jobIdFor({ batchId, table: 't', column: 'c', pk: 'p' }).split('-')[0]}-`;
  for (const job of await queue.getFailed(0, -1)) if (job.id?.startsWith(mine)) await job.remove();
}
