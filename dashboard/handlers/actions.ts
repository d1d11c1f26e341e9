import type { BatchSpec } from '../../src/ledger/ledger.ts';
import { enqueueBatch } from '../../src/pipeline/producer.ts';
import { Outcome, Reason } from '../../src/outcomes.ts';
import { retryRecords, type RetryFilter } from '../../src/pipeline/requeue.ts';
import type { WindowDeps } from '../../src/pipeline/queue-window.ts';
import type { DashboardDeps } from '../deps.ts';
import { findBatch } from '../figures.ts';
import { HttpError, HttpStatus, ok, type Handler } from '../http.ts';

/**
 * The two things the page can change, each through the same library call as its CLI command. Both
 * say what they did and whether a worker is there to act on it: queued jobs wait for `media-migrate worker`.
 */

/** The queue window the actions feed, from the dashboard's settings. */
export function windowOf(deps: DashboardDeps): WindowDeps {
  return {
    ledger: deps.ledger,
    queue: deps.queue,
    redis: deps.redis,
    prefix: deps.prefix,
    size: deps.window?.size ?? 10_000,
    inFlightMs: deps.window?.inFlightMs ?? 30_000,
    logger: deps.logger,
  };
}

const KNOWN_REASONS = new Set<string>(Object.values(Reason));

/** One reason and one outcome at most from the query: what a button on the page asks for. */
function retryFilterOf(reason: string | undefined, outcome: string | undefined): RetryFilter {
  const o = outcome ?? Outcome.failed;
  if (o !== Outcome.failed && o !== Outcome.missing) throw new HttpError(HttpStatus.badRequest, 'outcome: expected failed or missing');
  if (reason !== undefined && !KNOWN_REASONS.has(reason)) throw new HttpError(HttpStatus.badRequest, `reason: no such reason "${reason}"`);
  return { outcomes: [o], ...(reason !== undefined ? { reasons: [reason] } : {}) };
}

const noWorker = (workers: number | null) =>
  workers === 0 ? ' No worker is connected: start one with `media-migrate worker`, or nothing will run.' : '';

export function actionHandlers(deps: DashboardDeps) {
  const { ledger, queue, logger } = deps;
  const workers = () => queue.getWorkersCount().catch(() => null);

  /**
   * POST /api/batches/:id/retry-failed[?reason=R][&outcome=missing] — what `media-migrate retry-failed
   * --batch ID [--reason R] [--outcome missing]` does.
   */
  const retry: Handler = async (req) => {
    const batch = await findBatch(ledger, req.params.id);
    const filter = retryFilterOf(req.query.reason, req.query.outcome);
    const r = await retryRecords(windowOf(deps), batch.id, filter);
    const w = await workers();
    logger.info({ batch: batch.id, requeued: r.requeued, ...filter }, 'dashboard: retry');
    const what = `${filter.outcomes[0]}${filter.reasons ? ` (${filter.reasons[0]})` : ''}`;
    const message =
      r.requeued === 0
        ? `Batch ${batch.id} has no ${what} records.`
        : `Re-queued ${r.requeued} ${what} record${r.requeued === 1 ? '' : 's'} of batch ${batch.id}.${noWorker(w)}`;
    return ok({ batch: batch.id, requeued: r.requeued, byOutcome: r.byOutcome, byReason: r.byReason, workers: w, message });
  };

  /**
   * POST /api/batches/:id/dry-run — a dry-run batch with the settings of batch ID (its sources, store,
   * prefix and tag), enqueued for the workers; an unfinished dry run with the same settings is resumed.
   */
  const dryRun: Handler = async (req) => {
    const from = await findBatch(ledger, req.params.id);
    const spec: BatchSpec = { kind: 'migrate', sources: from.sources, store: from.store, dryRun: true, prefix: from.prefix, tag: from.tag };
    const r = await enqueueBatch({ db: deps.db, ledger, queue, redis: deps.redis, logger, window: deps.window }, spec);
    const w = await workers();
    logger.info({ batch: r.batch.id, from: from.id, resumed: r.resumed, enqueued: r.enqueued }, 'dashboard: dry run');
    const message = `${r.resumed ? 'Resumed' : 'Started'} dry run batch ${r.batch.id} (settings of batch ${from.id}): ${r.enqueued} records enqueued.${noWorker(w)}`;
    return ok({ batch: r.batch.id, fromBatch: from.id, resumed: r.resumed, enqueued: r.enqueued, workers: w, message }, HttpStatus.created);
  };

  return { retry, dryRun };
}
