import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { RedisConfig, UploadConfig } from '../config/config.ts';
import { isConnectionError } from '../db/connect.ts';
import { lazyChild } from '../logger.ts';
import { Counter, bump } from './counters.ts';
import { CredentialsError, DatabaseUnavailableError, RateLimitedError, errorMessage } from '../errors.ts';
import type { Batch, Ledger } from '../ledger/ledger.ts';
import type { MediaLimits } from '../media/media-file.ts';
import { createMediaTagger, type MediaTagger } from '../cloudinary/media-tagger.ts';
import { stageRecord } from '../records/stage-record.ts';
import { textRecord } from '../records/text-record.ts';
import { isTextSource } from '../config/sources.ts';
import { migrateRecord, recordLabel } from '../records/migrate-record.ts';
import { Outcome, Reason } from '../outcomes.ts';
import { QUEUE_NAME, fromJobData, type RecordJobData, type RecordJobResult, type RecordQueue } from './queue.ts';
import { startRefiller, type Refiller, type WindowDeps } from './queue-window.ts';
import { jobsForUploadSlots, limitUploads } from './upload-slots.ts';
import { createWorkerGuard, type WorkerGuard } from './worker-guard.ts';
import { registerWorker } from './worker-registry.ts';
import { startTakeover } from './takeover.ts';
import { foreignJobGuard } from './foreign-jobs.ts';
import type { Uploader } from '../cloudinary/uploader.ts';
import { LedgerGroups } from '../records/ledger-groups.ts';

export interface RecordWorkerDeps {
  redis: RedisConfig;
  upload: UploadConfig;
  mediaRoot: string;
  cloudName: string;
  db: Knex;
  ledger: Ledger;
  uploader: Uploader;
  logger: Logger;
  /** Used for BullMQ's blocking commands: needs `maxRetriesPerRequest: null`. */
  connection: Redis;
  /** Used to pause the whole queue when Cloudinary refuses our credentials. */
  queue: RecordQueue;
  /** Uploads in flight at once (`--concurrency`). */
  concurrency: number;
  /** Called once when the credentials are refused: the process should stop taking work. */
  onHalt?: (message: string) => void;
  /** After this long with records pending and no job for them in Redis, they are handed over again. */
  healAfterMs?: number;
  /** How often a refused batch's media is looked at again (15 s). */
  recheckMs?: number;
  /** How long a record's asset may wait for MEDIA_TAG while other records are in flight (500 ms). */
  tagFlushMs?: number;
}

export interface RecordWorker {
  worker: Worker<RecordJobData, RecordJobResult>;
  group: LedgerGroups;
  tagger: MediaTagger;
  refiller: Refiller;
  /** Refuses batches whose media this machine cannot see; pauses on a streak of missing files. */
  guard: WorkerGuard;
  /** The credentials message, once Cloudinary refused them. */
  halted(): string | undefined;
  close(): Promise<void>;
}

/** How long a refused batch's job waits before a worker (perhaps one that can see the media) takes it. */
const REFUSED_DELAY_MS = 10_000;

/** How old an untagged record must be before a worker's sweep takes it for abandoned. */
const SWEEP_AFTER_MS = 60_000;

/** How long a job waits for an unreachable database before trying again (attempts untouched). */
const DB_WAIT_MS = 2_000;

/** How often a job may be taken back from a dead or stalled worker before it fails (BullMQ's maxStalledCount). */
const MAX_STALLED = 3;

/**
 * Wraps the record handler in a BullMQ Worker and turns each kind of failure into the queue's
 * language: permanent → UnrecoverableError (no more attempts); rate limited → the whole queue waits
 * and the job keeps its attempts; database unreachable → the job waits, attempts untouched; refused
 * credentials → the queue is paused and the batch halted with one message; anything else → retried
 * with backoff, and `failed` in the ledger once attempts run out.
 */
export function startRecordWorker(deps: RecordWorkerDeps): RecordWorker {
  const batches = new Map<number, Promise<Batch | undefined>>();
  let haltMessage: string | undefined;
  const limits: MediaLimits = {
    maxFileBytes: deps.upload.maxFileBytes,
    maxVideoBytes: deps.upload.maxVideoBytes,
    keepInMemoryUpToBytes: deps.upload.chunkedAboveBytes,
  };

  const getBatch = (id: number) => {
    let b = batches.get(id);
    if (!b) {
      b = deps.ledger.batches.get(id);
      batches.set(id, b);
      b.catch(() => batches.delete(id));
    }
    return b;
  };

  const group = new LedgerGroups(deps.db, deps.ledger);
  const tagger = createMediaTagger({ ledger: deps.ledger, uploader: deps.uploader, logger: deps.logger, flushMs: deps.tagFlushMs });
  // `concurrency` uploads in flight; the worker holds a few more jobs, whose database work overlaps them.
  const uploader = limitUploads(deps.uploader, deps.concurrency);
  const windowDeps: WindowDeps = {
    ledger: deps.ledger,
    queue: deps.queue,
    redis: deps.connection,
    prefix: deps.redis.prefix,
    size: deps.redis.window,
    inFlightMs: deps.upload.lockDurationMs,
    logger: deps.logger,
  };
  const registry = registerWorker(deps.connection, deps.redis.prefix, { concurrency: deps.concurrency });
  windowDeps.owner = registry.id;
  const guard = createWorkerGuard({
    mediaRoot: deps.mediaRoot,
    ledger: deps.ledger,
    logger: deps.logger,
    registry,
    window: windowDeps,
    // Not waiting for the jobs in flight: this is called from inside one of them.
    pause: () => {
      held = true;
      if (running) void worker.pause(true).catch(() => {});
    },
    resume: () => {
      held = false;
      if (running) worker.resume();
      else run();
    },
    ...(deps.recheckMs !== undefined ? { recheckMs: deps.recheckMs } : {}),
  });
  // The worker takes jobs only once the media of the open batches has been looked at, so a machine
  // without it takes none; `held` while the guard refuses or paused it.
  let running = false;
  let held = false;
  const run = () => {
    if (running || held || closing) return;
    running = true;
    worker.run().catch((err: unknown) => deps.logger.error({ error: errorMessage(err) }, 'worker stopped'));
  };
  let closing = false;
  // Rows another process wrote before it died may still wait for their asset's MEDIA_TAG.
  const sweeper = setInterval(() => {
    tagger.sweep({ before: new Date(Date.now() - SWEEP_AFTER_MS) }).catch((err: unknown) => {
      deps.logger.warn({ error: errorMessage(err) }, 'MEDIA_TAG sweep failed; will retry');
    });
  }, SWEEP_AFTER_MS);
  sweeper.unref();
  // Counting is best effort: a metric must never fail a job.
  const count = (c: Counter) => void bump(deps.connection, deps.redis.prefix, c).catch(() => {});

  const halt = async (batchId: number, message: string) => {
    if (haltMessage) return;
    haltMessage = message;
    count(Counter.halted);
    deps.logger.error({ batch: batchId }, message);
    await deps.ledger.batches.halt(batchId, message).catch(() => {});
    await deps.queue.pause().catch(() => {});
    deps.onHalt?.(message);
  };

  // Another ledger's job (keys moved by hand: by default each ledger has its own space) goes back.
  const leaveIfForeign = foreignJobGuard(deps.redis.ledger, deps.connection, deps.logger);

  // The last record of a batch gets its MEDIA_TAG at once: waiting for the next timed flush, or for
  // the worker's close, would only add to the end of the command (a record whose row holds its id is
  // complete either way; see media-tagger.ts).
  let active = 0;
  const processor = (job: Job<RecordJobData, RecordJobResult>, token?: string): Promise<RecordJobResult> => {
    active++;
    return processRecord(job, token).finally(() => {
      if (--active === 0) void tagger.flush();
    });
  };

  const processRecord = async (job: Job<RecordJobData, RecordJobResult>, token?: string): Promise<RecordJobResult> => {
    await leaveIfForeign(job, token);
    const ref = fromJobData(job.data);
    const log = lazyChild(deps.logger, { jobId: job.id, batch: ref.batchId, table: ref.table, column: ref.column, pk: ref.pk });
    const label = recordLabel(ref);
    if (haltMessage) {
      // Cloudinary already refused our credentials: hand the job back untouched. The queue is paused
      // (halt), so no worker takes it again; a worker-wide rate limit here would also race close(),
      // which then waits the limit out.
      throw Worker.RateLimitError();
    }
    try {
      const batch = await getBatch(ref.batchId);
      const source = batch?.sources.find((s) => s.table === ref.table && s.column === ref.column);
      if (!batch || !source) {
        // Identifiers in job data are only trusted when the batch lists them.
        throw new UnrecoverableError(`${label}: not a source of batch ${ref.batchId}`);
      }
      if (await guard.refusal(batch)) {
        // This machine cannot see the batch's media: hand the job back for a worker that can.
        await job.moveToDelayed(Date.now() + REFUSED_DELAY_MS, token);
        throw new DelayedError();
      }
      const handle = isTextSource(source) ? textRecord : batch.kind === 'stage' ? stageRecord : migrateRecord;
      // Object.assign, not a spread then properties, which Node 20's V8 makes ~1.5 µs a property.
      const result = await handle({ batch, source, ref }, Object.assign({}, deps, { uploader, limits, logger: log, tagger, group }));
      await guard.after(batch, ref, result.outcome, result.reason);
      // One line per record at debug; what an operator must act on (failed, missing) is louder.
      const level = result.outcome === Outcome.failed ? 'warn' : result.outcome === Outcome.missing ? 'info' : 'debug';
      log[level]({ outcome: result.outcome, reason: result.reason, publicId: result.publicId, detail: result.detail }, `record ${result.outcome}`);
      if (result.outcome === Outcome.failed) {
        throw new UnrecoverableError(`${recordLabel(ref, source.pk)}: ${result.reason}: ${result.detail ?? ''}`);
      }
      return { outcome: result.outcome, reason: result.reason, publicId: result.publicId };
    } catch (err) {
      if (err instanceof UnrecoverableError || err instanceof DelayedError) throw err;
      if (err instanceof CredentialsError) {
        await halt(ref.batchId, err.message);
        throw Worker.RateLimitError();
      }
      if (err instanceof RateLimitedError) {
        log.warn({ waitMs: err.retryAfterMs }, 'rate limited by Cloudinary; pausing the queue');
        count(Counter.rateLimited);
        await worker.rateLimit(err.retryAfterMs);
        throw Worker.RateLimitError();
      }
      if (err instanceof DatabaseUnavailableError || isConnectionError(err)) {
        return waitForDatabase(job, token, log, err);
      }
      const message = `${label}: ${errorMessage(err)}`;
      const isLast = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      log.warn({ attempt: job.attemptsMade + 1, last: isLast, error: errorMessage(err) }, 'attempt failed');
      if (!isLast) count(Counter.retried);
      if (isLast) {
        try {
          const rec = await deps.ledger.records.get(ref);
          if (rec) {
            await deps.ledger.records.finish(deps.db, rec.id, {
              outcome: Outcome.failed,
              reason: Reason.retriesExhausted,
              detail: errorMessage(err),
            });
          }
        } catch (ledgerErr) {
          // The job must not end failed in Redis while the ledger still says pending.
          if (isConnectionError(ledgerErr)) return waitForDatabase(job, token, log, ledgerErr);
          throw ledgerErr;
        }
      }
      throw new Error(message);
    }
  };

  const waitForDatabase = async (
    job: Job<RecordJobData, RecordJobResult>,
    token: string | undefined,
    log: Logger,
    err: unknown,
  ): Promise<never> => {
    const wait = DB_WAIT_MS + Math.floor(Math.random() * DB_WAIT_MS);
    log.warn({ waitMs: wait, error: errorMessage(err) }, 'database unreachable; the job waits for it');
    count(Counter.databaseWaits);
    await job.moveToDelayed(Date.now() + wait, token);
    throw new DelayedError();
  };

  const worker: Worker<RecordJobData, RecordJobResult> = new Worker<RecordJobData, RecordJobResult>(QUEUE_NAME, processor, {
    connection: deps.connection,
    prefix: deps.redis.prefix,
    concurrency: jobsForUploadSlots(deps.concurrency),
    stalledInterval: deps.upload.stalledIntervalMs,
    lockDuration: deps.upload.lockDurationMs,
    // A crashed worker's job is picked up again; our handler is safe to repeat, so allow it twice.
    maxStalledCount: MAX_STALLED,
    autorun: false,
  });
  // Its locks start with this id: a process that finds this one dead knows its jobs by it.
  registry.holds(worker.id);
  // Jobs of processes known dead go back to the queue at once, not after their locks expire.
  const takeover = startTakeover({ queue: deps.queue, redis: deps.connection, prefix: deps.redis.prefix, logger: deps.logger, maxStalledCount: MAX_STALLED });
  worker.on('error', (err) => deps.logger.error({ error: errorMessage(err) }, 'worker error'));
  // Every process that works the queue keeps its window full from the ledger; the guard hears which
  // batches are open from it, so a new batch is taken even while an older one is refused.
  const refiller = startRefiller(windowDeps, {
    healAfterMs: deps.healAfterMs,
    batches: async () => {
      const open = await deps.ledger.batches.open();
      guard.observe(open);
      return open;
    },
  });
  // At start, every open batch's media: a machine without it says so at once, not at its first job.
  void deps.ledger
    .batches.open()
    .then((open) => (guard.observe(open), Promise.all(open.map((b) => guard.refusal(b)))))
    .catch(() => {})
    .finally(run);
  worker.on('drained', () => refiller.kick());

  return {
    worker,
    group,
    tagger,
    refiller,
    guard,
    halted: () => haltMessage,
    close: async () => {
      closing = true;
      clearInterval(sweeper);
      guard.close();
      await takeover.stop();
      await refiller.stop();
      await worker.close();
      await group.close();
      await registry.close();
      await tagger.close();
    },
  };
}
