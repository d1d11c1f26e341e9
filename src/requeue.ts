import type { Ledger, LedgerRecord } from './ledger.ts';
import { addJobs } from './producer.ts';
import { jobIdFor, type RecordQueue } from './queue.ts';

/**
 * Puts records back into the queue under their own job ids: a job BullMQ still holds as failed is
 * retried with fresh attempts, one it has trimmed is added again.
 */
export async function requeueRecords(queue: RecordQueue, records: readonly LedgerRecord[]): Promise<void> {
  const toAdd: LedgerRecord[] = [];
  for (const r of records) {
    const job = await queue.getJob(jobIdFor(r));
    if (!job) {
      toAdd.push(r);
      continue;
    }
    const state = await job.getState();
    if (state === 'failed') await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    else if (state === 'completed') {
      await job.remove();
      toAdd.push(r);
    }
    // waiting, delayed or active: it will run anyway.
  }
  await addJobs(queue, toAdd);
}

/**
 * Re-queues exactly the failed records of a batch: the ledger marks them pending again, then their
 * jobs go back to the queue. What `media-migrate retry-failed` and the dashboard's button both do.
 */
export async function retryFailed(ledger: Ledger, queue: RecordQueue, batchId: number): Promise<number> {
  const records = await ledger.reopenFailed(batchId);
  await requeueRecords(queue, records);
  return records.length;
}
