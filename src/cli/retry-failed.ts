import { ExitError } from '../errors.ts';
import { Outcome, Reason } from '../outcomes.ts';
import { readRecordList } from '../config/record-list.ts';
import { retryListed, retryRecords, type RetryFilter } from '../pipeline/requeue.ts';
import { openDatabase, openQueue } from '../pipeline/services.ts';
import { println, type CommandIO } from './io.ts';
import { setup } from './setup.ts';
import { resolveBatch } from './status.ts';

export interface RetryFailedOptions {
  batch?: number | undefined;
  /** Only records that ended with these reasons (repeatable). */
  reason?: string[] | undefined;
  /** failed (the default) and/or missing (after restoring files). */
  outcome?: string[] | undefined;
  /** Exactly the records a file lists: `report --format csv` output or `table,pk` lines. */
  from?: string | undefined;
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
  if (opts.from !== undefined && (opts.reason?.length || opts.outcome?.length)) {
    throw new ExitError(2, '--from: the file says which records; drop --reason and --outcome');
  }
  const { config, logger, res } = setup(io, ['database', 'redis']);
  try {
    const { ledger, name } = await openDatabase(config.database, res, logger);
    // A report says which batch its lines are of; plain `table,pk` lines are of the latest.
    const listedBatch = opts.from !== undefined && opts.batch === undefined ? await firstListedBatch(opts.from) : undefined;
    const batch = await resolveBatch(ledger, opts.batch ?? listedBatch);
    const { queue, connection, redis } = await openQueue(config.redis, config.upload, res, logger, name);
    const window = { ledger, queue, redis: connection, prefix: redis.prefix, size: config.redis.window, inFlightMs: config.upload.lockDurationMs, logger };
    if (opts.from !== undefined) {
      const r = await retryListed(window, batch.id, opts.from);
      if (opts.json) {
        println(io.stdout, JSON.stringify({ batch: batch.id, requeued: r.requeued, byOutcome: r.byOutcome, byReason: r.byReason, otherBatches: r.otherBatches }));
      } else {
        const each = Object.entries(r.byOutcome).map(([o, n]) => `${n} ${o}`).join(', ');
        println(io.stdout, `Re-queued ${r.requeued} records of batch ${batch.id} listed in ${opts.from}${each ? ` (${each})` : ''}; migrated or staged ones are left as they are.`);
        if (r.otherBatches) println(io.stdout, `${r.otherBatches} lines are of other batches: run it with --batch N for those.`);
      }
      return 0;
    }
    const r = await retryRecords(window, batch.id, filter);
    const what = `${filter.outcomes.join(' or ')}${filter.reasons ? ` (${filter.reasons.join(', ')})` : ''}`;
    if (opts.json) {
      println(io.stdout, JSON.stringify({ batch: batch.id, requeued: r.requeued, byOutcome: r.byOutcome, byReason: r.byReason }));
    } else if (r.requeued === 0) {
      println(io.stdout, `Batch ${batch.id} has no ${what} records.`);
    } else {
      const each = Object.entries(r.byReason).map(([reason, n]) => `${n} ${reason}`).join(', ');
      println(io.stdout, `Re-queued ${r.requeued} ${what} records of batch ${batch.id} (${each}). Workers pick them up (media-migrate worker, or media-migrate ${batch.kind} --batch ${batch.id}).`);
    }
    return 0;
  } finally {
    await res.close();
  }
}

/** The batch of the file's first line that names one (a report's `batch` column). */
async function firstListedBatch(path: string): Promise<number | undefined> {
  for await (const r of readRecordList(path)) return r.batch;
  return undefined;
}
