import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { RedisConfig, UploadConfig } from '../config/config.ts';
import type { Batch, BatchSpec, Ledger } from '../ledger/ledger.ts';
import type { Counts } from '../outcomes.ts';
import { openBatch, windowDeps } from './producer.ts';
import { fingerprintFirst, recordAll } from './record-batch.ts';
import { refillWindow } from './queue-window.ts';
import type { RecordQueue } from './queue.ts';
import { startRecordWorker } from './record-worker.ts';
import type { Uploader } from '../cloudinary/uploader.ts';
import { isConnectionError } from '../db/connect.ts';
import { errorMessage } from '../errors.ts';
import { waitingFor } from './waiting.ts';

/** How often the loop looks whether any record is still pending. */
const END_CHECK_MS = 50;
/** After this long without a record finishing, the progress line says what the run waits for... */
const STILL_MS = 3_000;
/** ...looked up this often (it reads the queue's active and delayed jobs). */
const WAIT_CHECK_MS = 2_000;

const isRedisUnavailable = (err: unknown) =>
  /Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|LOADING|MaxRetriesPerRequest/i.test(errorMessage(err));

export interface RunBatchDeps {
  db: Knex;
  ledger: Ledger;
  queue: RecordQueue;
  connection: Redis;
  uploader: Uploader;
  logger: Logger;
  redis: RedisConfig;
  upload: UploadConfig;
  mediaRoot: string;
  cloudName: string;
}

export interface RunBatchOptions {
  concurrency: number;
  batchId?: number | undefined;
  /**
   * Called with fresh counts about once a second; when the batch has made no progress for a few
   * seconds, with what it waits for (and for how long, where known).
   */
  onProgress?: (counts: Counts, batch: Batch, waiting?: string, recording?: boolean) => void;
  /** Aborting stops taking new jobs, lets the ones in flight finish (bounded), and returns. */
  signal?: AbortSignal | undefined;
  /** How often the figures are counted for onProgress (a count reads every record of the batch). */
  pollMs?: number;
  /** After this long with records pending and no job for them in Redis, they are handed over again. */
  healAfterMs?: number;
  /** How long in-flight jobs may take to finish once aborted. */
  shutdownTimeoutMs?: number;
}

export interface RunBatchResult {
  batch: Batch;
  counts: Counts;
  resumed: boolean;
  halted: string | undefined;
  interrupted: boolean;
  /** Why this machine would not (or could no longer) take the batch's jobs: it cannot see the media. */
  refused?: string | undefined;
}

/**
 * The whole migration on one machine: enqueue (or resume) the batch, work it with in-process workers
 * until the ledger has no pending record, and report. Redis holds a window of the batch, refilled from
 * the ledger as jobs finish; if Redis loses it (a flush, a restart without persistence), the next
 * refill hands the pending records over again.
 */
export async function runBatch(deps: RunBatchDeps, spec: BatchSpec, opts: RunBatchOptions): Promise<RunBatchResult> {
  const { ledger, queue, logger } = deps;
  const pollMs = opts.pollMs ?? 1_000;
  const healAfterMs = opts.healAfterMs ?? 10_000;

  const window = { size: deps.redis.window, inFlightMs: deps.upload.lockDurationMs };
  const enqDeps = { db: deps.db, ledger, queue, redis: deps.connection, logger, window, mediaRoot: deps.mediaRoot };
  const opened = await openBatch(ledger, spec, opts.batchId);
  // The fingerprint before any record: a worker checks it before it takes one of the batch's jobs.
  await fingerprintFirst(enqDeps, opened.batch);
  const batch = (await ledger.batches.get(opened.batch.id)) ?? opened.batch;
  const enq = { resumed: opened.resumed };
  // A previous run may have halted the batch (refused credentials) and paused the queue; the
  // credentials were checked again before we got here, so carry on.
  if (batch.haltedReason) await ledger.batches.clearHalt(batch.id);
  if (await queue.isPaused()) await queue.resume();

  // Its refiller keeps Redis's window of the batch full, and hands over again what Redis lost.
  const worker = startRecordWorker({ ...deps, concurrency: opts.concurrency, healAfterMs });
  // The batch is recorded while the workers take its first records (a migrate batch: Batches.open):
  // the first page is handed over at once, later ones at the refiller's next look. Stopped between
  // pages when the run stops; a re-run carries on where it got to.
  const stopRecording = new AbortController();
  const recordSignal = opts.signal ? AbortSignal.any([opts.signal, stopRecording.signal]) : stopRecording.signal;
  let recorded = Boolean(batch.enqueuedAt);
  let recordError: unknown;
  let firstPage = true;
  const refill = async () => void (await refillWindow(windowDeps(enqDeps), (await ledger.batches.get(batch.id)) ?? batch));
  const recording = recordAll(enqDeps, batch, {
    signal: recordSignal,
    onPage: () => {
      if (batch.kind !== 'migrate') return undefined;
      if (!firstPage) return void worker.refiller.kick();
      firstPage = false;
      return refill();
    },
  })
    .then(async () => {
      recorded = true;
      if (!batch.enqueuedAt) logger.info({ batch: batch.id, resumed: enq.resumed }, 'batch recorded');
      await refill();
    })
    .catch((err: unknown) => {
      if (!recordSignal.aborted) recordError = err;
    });
  // A batch enqueued on a machine with the media, run here without it: say so and stop (once the
  // batch is recorded, for the machines that can see the media).
  const refused = await worker.guard.refusal(batch);
  if (refused) {
    await recording;
    await closeWithin(worker.close(), opts.shutdownTimeoutMs ?? 30_000, logger);
    if (recordError) throw recordError;
    return { batch, counts: await ledger.counts.total(batch.id), resumed: enq.resumed, halted: undefined, interrupted: false, refused };
  }
  let interrupted = false;
  // Set when the batch ended here: nothing pending, fully recorded.
  let finished = false;
  let closing: Promise<void> | undefined;
  let counts = await ledger.counts.total(batch.id);
  let countedAt = 0;
  let countMs = 0;
  // No progress for a while: say what the run waits for, looked up every couple of seconds.
  let movedAt = Date.now();
  let waiting: string | undefined;
  let waitCheckedAt = 0;
  const waitDeps = { queue, redis: deps.connection, prefix: deps.redis.prefix, upload: deps.upload, self: worker.worker.id };
  try {
    for (;;) {
      if (opts.signal?.aborted) {
        interrupted = true;
        break;
      }
      // Recording stopped on an error: the run stops with it (a re-run carries on recording).
      if (recordError) throw recordError;
      try {
        // The end is noticed within a few tens of milliseconds (a seek); the figures, a read of every
        // record of the batch, are counted every second, or every ten times what a count takes (a
        // million records): the database's time goes to the workers.
        if (Date.now() - countedAt >= Math.max(pollMs, 10 * countMs)) {
          const started = Date.now();
          const before = counts.pending;
          counts = await ledger.counts.total(batch.id);
          countedAt = Date.now();
          countMs = countedAt - started;
          if (counts.pending !== before) movedAt = countedAt;
          if (countedAt - movedAt < STILL_MS) waiting = undefined;
          else if (countedAt - waitCheckedAt >= WAIT_CHECK_MS) {
            waitCheckedAt = countedAt;
            waiting = await waitingFor(waitDeps, batch.id).catch(() => undefined);
          }
          opts.onProgress?.(counts, batch, waiting, !recorded);
        }
        // The end: fully recorded, and nothing pending. Never while records are still being added.
        if (recorded && !(await ledger.pending.has(batch.id))) {
          // Whatever a worker elsewhere left without MEDIA_TAG (it died after writing its row).
          await worker.tagger.sweep({ batchId: batch.id });
          finished = true;
          break;
        }
        // Only this batch's verdict ends the run: one on another batch leaves this one running.
        if (worker.halted() || worker.guard.verdict(batch.id)) break;
      } catch (err) {
        // The database or Redis is away for a while: the workers wait for it, and so do we.
        if (!isConnectionError(err) && !isRedisUnavailable(err)) throw err;
        logger.warn({ error: errorMessage(err) }, 'cannot read progress; waiting for the service to return');
      }
      await sleep(END_CHECK_MS, undefined, { signal: opts.signal }).catch(() => {});
    }
  } finally {
    stopRecording.abort();
    await recording;
    closing = closeWithin(worker.close(), opts.shutdownTimeoutMs ?? 30_000, logger);
    // Stopped for any other reason, the jobs in hand finish while the worker closes: count after.
    if (!finished) await closing;
  }
  // A finished batch's figures are final: read while the worker closes (its last MEDIA_TAG call may
  // still be on its way), not after.
  const figures = Promise.all([ledger.counts.total(batch.id), ledger.batches.get(batch.id)]);
  figures.catch(() => {}); // thrown below, once the worker has closed
  await closing;
  const [final, ended] = await figures;
  counts = final;
  opts.onProgress?.(counts, batch, undefined, !recorded);
  // A batch others finished while this process refused it ended all the same.
  const verdict = counts.pending > 0 ? worker.guard.verdict(batch.id) : undefined;
  return { batch: ended ?? batch, counts, resumed: enq.resumed, halted: worker.halted(), interrupted, refused: verdict };
}

async function closeWithin(closing: Promise<void>, ms: number, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
    timer.unref();
  });
  const r = await Promise.race([closing.then(() => 'closed' as const), timeout]);
  clearTimeout(timer);
  // The jobs still running are not lost: their locks expire and another run picks them up.
  if (r === 'timeout') logger.warn({ timeoutMs: ms }, 'jobs still in flight at shutdown; they will be picked up again');
}
