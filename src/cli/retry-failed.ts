import type { LedgerRecord } from '../ledger.ts';
import { addJobs } from '../producer.ts';
import { jobIdFor, type RecordQueue } from '../queue.ts';
import { openDatabase, openQueue } from '../services.ts';
import { println, type CommandIO } from './io.ts';
import { setup } from './setup.ts';
import { resolveBatch } from './status.ts';

export interface RetryFailedOptions {
  batch?: number | undefined;
  json?: boolean | undefined;
}

/**
 * Puts records back into the queue under their own job ids: a job BullMQ still holds as failed is
 * retried with fresh attempts, one it has trimmed is added again. Shared by the CLI and the dashboard.
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

/** `media-migrate retry-failed`: re-queues exactly the failed records of a batch. */
export async function retryFailedCommand(opts: RetryFailedOptions, io: CommandIO): Promise<number> {
  const { config, logger, res } = setup(io, ['database', 'redis']);
  try {
    const { ledger } = await openDatabase(config.database, res, logger);
    const batch = await resolveBatch(ledger, opts.batch);
    const { queue } = await openQueue(config.redis, config.upload, res);
    const records = await ledger.reopenFailed(batch.id);
    await requeueRecords(queue, records);
    if (opts.json) println(io.stdout, JSON.stringify({ batch: batch.id, requeued: records.length }));
    else
      println(
        io.stdout,
        records.length === 0
          ? `Batch ${batch.id} has no failed records.`
          : `Re-queued ${records.length} failed records of batch ${batch.id}. Workers pick them up (media-migrate worker, or media-migrate migrate --batch ${batch.id}).`,
      );
    return 0;
  } finally {
    await res.close();
  }
}
