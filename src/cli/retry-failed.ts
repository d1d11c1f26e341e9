import { ExitError } from '../errors.ts';
import { Outcome, Reason } from '../outcomes.ts';
import { retryRecords, type RetryFilter } from '../requeue.ts';
import { openDatabase, openQueue } from '../services.ts';
import { println, type CommandIO } from './io.ts';
import { setup } from './setup.ts';
import { resolveBatch } from './status.ts';

export interface RetryFailedOptions {
  batch?: number | undefined;
  /** Only records that ended with these reasons (repeatable). */
  reason?: string[] | undefined;
  /** failed (the default) and/or missing (after restoring files). */
  outcome?: string[] | undefined;
  json?: boolean | undefined;
}

const RETRYABLE_OUTCOMES = [Outcome.failed, Outcome.missing] as const;
const KNOWN_REASONS = new Set<string>(Object.values(Reason));

/** The filter the options ask for, or a one-line refusal naming the option. */
export function retryFilter(opts: Pick<RetryFailedOptions, 'reason' | 'outcome'>): RetryFilter {
  const outcomes = opts.outcome && opts.outcome.length > 0 ? opts.outcome : [Outcome.failed];
  for (const o of outcomes) {
    if (!(RETRYABLE_OUTCOMES as readonly string[]).includes(o)) throw new ExitError(2, `--outcome ${o}: expected failed or missing`);
  }
  for (const r of opts.reason ?? []) {
    if (!KNOWN_REASONS.has(r)) throw new ExitError(2, `--reason ${r}: no such reason (see the outcomes table in the README; e.g. retries_exhausted, cloudinary_rejected, too_large, not_found)`);
  }
  return { outcomes: [...new Set(outcomes)] as RetryFilter['outcomes'], ...(opts.reason?.length ? { reasons: [...new Set(opts.reason)] } : {}) };
}

/** `media-migrate retry-failed`: re-queues exactly the failed records of a batch (or those of some reasons, or the missing ones). */
export async function retryFailedCommand(opts: RetryFailedOptions, io: CommandIO): Promise<number> {
  const filter = retryFilter(opts);
  const { config, logger, res } = setup(io, ['database', 'redis']);
  try {
    const { ledger } = await openDatabase(config.database, res, logger);
    const batch = await resolveBatch(ledger, opts.batch);
    const { queue, connection } = await openQueue(config.redis, config.upload, res, logger);
    const r = await retryRecords(
      { ledger, queue, redis: connection, prefix: config.redis.prefix, size: config.redis.window, inFlightMs: config.upload.lockDurationMs, logger },
      batch.id,
      filter,
    );
    const what = `${filter.outcomes.join(' or ')}${filter.reasons ? ` (${filter.reasons.join(', ')})` : ''}`;
    if (opts.json) {
      println(io.stdout, JSON.stringify({ batch: batch.id, requeued: r.requeued, byOutcome: r.byOutcome, byReason: r.byReason }));
    } else if (r.requeued === 0) {
      println(io.stdout, `Batch ${batch.id} has no ${what} records.`);
    } else {
      const each = Object.entries(r.byReason).map(([reason, n]) => `${n} ${reason}`).join(', ');
      println(io.stdout, `Re-queued ${r.requeued} ${what} records of batch ${batch.id} (${each}). Workers pick them up (media-migrate worker, or media-migrate migrate --batch ${batch.id}).`);
    }
    return 0;
  } finally {
    await res.close();
  }
}
