import { createHash } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig, UploadConfig } from '../config/config.ts';
import type { RecordRef } from '../ledger/ledger.ts';

export const QUEUE_NAME = 'media-migrate';

/**
 * A job carries the record's identity and nothing else: no row, no path, no secret. Short keys keep
 * a waiting job small in Redis; the worker re-reads everything else from the database. `l` is the
 * ledger's id (ledger-space.ts): a process leaves a job of another ledger alone. A job without one
 * (added by hand in bull-board) belongs to the ledger whose queue holds it.
 */
export interface RecordJobData {
  l?: string;
  b: number;
  t: string;
  c: string;
  pk: string;
}

/** What a job returns: its record's outcome (the record handlers define it). */
export type { RecordJobResult } from '../records/record-steps.ts';
import type { RecordJobResult } from '../records/record-steps.ts';

export type RecordQueue = Queue<RecordJobData, RecordJobResult>;

export function toJobData(ref: RecordRef, ledgerId?: string): RecordJobData {
  const { batchId: b, table: t, column: c, pk } = ref;
  return ledgerId !== undefined ? { l: ledgerId, b, t, c, pk } : { b, t, c, pk };
}

export function fromJobData(d: RecordJobData): RecordRef {
  return { batchId: d.b, table: d.t, column: d.c, pk: d.pk };
}

/** BullMQ refuses ids with `:` or made only of digits; anything unusual is replaced by a hash. */
function idPart(s: string): string {
  return /^[A-Za-z0-9_.-]{1,80}$/.test(s) ? s : `h${createHash('sha1').update(s).digest('hex').slice(0, 20)}`;
}

/** Deterministic per (batch, record): enqueueing the same batch twice adds nothing. */
export function jobIdFor(ref: RecordRef): string {
  return `b${ref.batchId}-${idPart(ref.table)}-${idPart(ref.column)}-${idPart(ref.pk)}`;
}

export function jobOptions(upload: UploadConfig): JobsOptions {
  return {
    attempts: upload.attempts,
    // Exponential with jitter, so jobs that failed together do not all come back together.
    backoff: { type: 'exponential', delay: upload.backoffMs, jitter: 0.5 },
    // Redis keeps the newest outcomes for bull-board; the ledger keeps all of them (the dashboard's
    // lists and `report` read it). Few enough that a finished batch leaves Redis about as it found it:
    // a finished job is ~1.2 KB, a failed one with its error more; 1,000 completed ones left 2.7 MB.
    removeOnComplete: { count: 100 },
    removeOnFail: { count: 1_000 },
  };
}

/** Connections for BullMQ: blocking commands must wait for Redis to come back, never give up. */
export function redisConnection(cfg: RedisConfig, extra: RedisOptions = {}): Redis {
  return new Redis(cfg.url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...extra });
}

/** One attempt, no retries: a wrong REDIS_URL must end a command at start with one line. */
export async function checkRedis(cfg: RedisConfig): Promise<void> {
  const probe = new Redis(cfg.url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 3_000,
    enableOfflineQueue: false,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
  } finally {
    probe.disconnect();
  }
}

export function createQueue(cfg: RedisConfig, connection: Redis, upload: UploadConfig): RecordQueue {
  return new Queue<RecordJobData, RecordJobResult>(QUEUE_NAME, {
    connection,
    prefix: cfg.prefix,
    defaultJobOptions: jobOptions(upload),
    // BullMQ's event stream keeps 10,000 entries by default: a tenth is plenty for bull-board.
    streams: { events: { maxLen: 1_000 } },
  });
}

/**
 * BullMQ needs Redis to keep every key (`maxmemory-policy noeviction`); managed plans often evict
 * by default, and an evicted job key loses work silently. Undefined when fine or not knowable.
 */
export async function evictionWarning(connection: Redis): Promise<string | undefined> {
  const info = await connection.info('memory').catch(() => '');
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (policy === undefined || policy === 'noeviction') return undefined;
  return `REDIS_URL: Redis's maxmemory-policy is "${policy}"; BullMQ needs "noeviction" (set maxmemory-policy noeviction), or Redis may drop queued jobs when memory runs short`;
}
