import { retryFailed } from '../requeue.ts';
import { openDatabase, openQueue } from '../services.ts';
import { println, type CommandIO } from './io.ts';
import { setup } from './setup.ts';
import { resolveBatch } from './status.ts';

export interface RetryFailedOptions {
  batch?: number | undefined;
  json?: boolean | undefined;
}

/** `media-migrate retry-failed`: re-queues exactly the failed records of a batch. */
export async function retryFailedCommand(opts: RetryFailedOptions, io: CommandIO): Promise<number> {
  const { config, logger, res } = setup(io, ['database', 'redis']);
  try {
    const { ledger } = await openDatabase(config.database, res, logger);
    const batch = await resolveBatch(ledger, opts.batch);
    const { queue, connection } = await openQueue(config.redis, config.upload, res, logger);
    const requeued = await retryFailed(
      { ledger, queue, redis: connection, prefix: config.redis.prefix, size: config.redis.window, inFlightMs: config.upload.lockDurationMs, logger },
      batch.id,
    );
    if (opts.json) println(io.stdout, JSON.stringify({ batch: batch.id, requeued }));
    else
      println(
        io.stdout,
        requeued === 0
          ? `Batch ${batch.id} has no failed records.`
          : `Re-queued ${requeued} failed records of batch ${batch.id}. Workers pick them up (media-migrate worker, or media-migrate migrate --batch ${batch.id}).`,
      );
    return 0;
  } finally {
    await res.close();
  }
}
