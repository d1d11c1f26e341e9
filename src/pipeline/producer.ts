import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { ExitError } from '../errors.ts';
import type { Batch, BatchSpec, Ledger, RecordRef } from '../ledger/ledger.ts';
import { jobIdFor, toJobData, type RecordQueue } from './queue.ts';
import { refillWindow, type WindowDeps } from './queue-window.ts';
import { PAGE_SIZE, recordAll } from './record-batch.ts';

export interface EnqueueDeps {
  db: Knex;
  ledger: Ledger;
  queue: RecordQueue;
  /** A plain connection to the queue's Redis: the window's cursor and lock live there. */
  redis: Redis;
  logger: Logger;
  /** MEDIA_ROOT, when this machine has it: the batch records a fingerprint of it for the workers. */
  mediaRoot?: string | undefined;
  /** The queue window (QUEUE_WINDOW, and how long an attempt may still be in a worker's hands). */
  window?: { size: number; inFlightMs: number } | undefined;
}

const DEFAULT_WINDOW = { size: 10_000, inFlightMs: 30_000 };

export interface EnqueueOptions {
  /** Resume this batch instead of the newest unfinished one with the same settings. */
  batchId?: number | undefined;
  /** Rows per keyset page and per ledger insert. */
  pageSize?: number;
}

export interface EnqueueResult {
  batch: Batch;
  resumed: boolean;
  /** Jobs handed to Redis by this call: the first window (or what it was missing). */
  enqueued: number;
}

/** Adds one job per record; fixed job ids make re-sending a chunk harmless. */
export async function addJobs(queue: RecordQueue, refs: readonly RecordRef[], ledgerId?: string): Promise<void> {
  if (refs.length === 0) return;
  await queue.addBulk(
    refs.map((ref) => ({ name: `${ref.table}.${ref.column}`, data: toJobData(ref, ledgerId), opts: { jobId: jobIdFor(ref) } })),
  );
}

/** The batch to work on: the one asked for, else the newest unfinished one like it, else a new one. */
export async function openBatch(
  ledger: Ledger,
  spec: BatchSpec,
  batchId?: number,
): Promise<{ batch: Batch; resumed: boolean }> {
  if (batchId !== undefined) {
    const batch = await ledger.batches.get(batchId);
    if (!batch) throw new ExitError(2, `--batch ${batchId}: no such batch`);
    if (batch.rolledBackAt) throw new ExitError(2, `--batch ${batchId}: this batch was rolled back; start a new one`);
    return { batch, resumed: true };
  }
  const found = await ledger.batches.findResumable(spec);
  if (found) return { batch: found, resumed: true };
  // A migrate batch rewrites what the newest standing stage batch placed, instead of uploading it.
  const stage = spec.kind === 'migrate' ? await ledger.batches.latestStage(spec.prefix) : undefined;
  return { batch: await ledger.batches.create(spec, { stageBatchId: stage?.id }), resumed: false };
}

/**
 * Records every row of the batch's sources in the ledger as pending, then hands Redis the first
 * window of jobs; workers refill it from the ledger as jobs finish (see queue-window.ts). Safe to
 * repeat: the ledger insert ignores records it has, and a resumed batch's window carries on where it
 * was, or starts again from its first pending record when Redis lost it. Returns how many jobs it
 * handed over. Workers elsewhere take a migrate batch's records while it is being recorded (see
 * recordAll); the first window is handed over as soon as the first page is in.
 */
export async function enqueueRecords(deps: EnqueueDeps, batch: Batch, _resumed: boolean, pageSize = PAGE_SIZE): Promise<number> {
  let added = 0;
  const refill = async () => {
    const current = (await deps.ledger.batches.get(batch.id)) ?? batch;
    added += (await refillWindow(windowDeps(deps), current)).added;
  };
  let first = true;
  // The first page goes to Redis at once (workers elsewhere may start on it); best effort: the refill
  // after recording, or any worker's refiller, hands it over when this one fails.
  const early = () => refill().catch((err: unknown) => deps.logger.debug({ error: String(err) }, 'first window not handed over yet'));
  await recordAll(deps, batch, {
    pageSize,
    onPage: batch.kind === 'migrate' ? () => (first ? ((first = false), early()) : undefined) : undefined,
  });
  await refill();
  return added;
}

/** The window settings of the queue this producer feeds. */
export function windowDeps(deps: EnqueueDeps): WindowDeps {
  return {
    ledger: deps.ledger,
    queue: deps.queue,
    redis: deps.redis,
    prefix: deps.queue.opts.prefix ?? 'bull',
    size: deps.window?.size ?? DEFAULT_WINDOW.size,
    inFlightMs: deps.window?.inFlightMs ?? DEFAULT_WINDOW.inFlightMs,
    logger: deps.logger,
  };
}

/** `media-migrate enqueue`: open the batch, enqueue what it still needs, say what happened. */
export async function enqueueBatch(deps: EnqueueDeps, spec: BatchSpec, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
  const { batch, resumed } = await openBatch(deps.ledger, spec, opts.batchId);
  const enqueued = await enqueueRecords(deps, batch, resumed, opts.pageSize);
  deps.logger.info({ batch: batch.id, resumed, enqueued }, resumed ? 'batch resumed' : 'batch enqueued');
  return { batch: (await deps.ledger.batches.get(batch.id)) ?? batch, resumed, enqueued };
}
