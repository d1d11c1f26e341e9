import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import type { Batch, Ledger, WindowRecord } from '../ledger/ledger.ts';
import { Outcome } from '../outcomes.ts';
import { jobIdFor, toJobData, type RecordQueue } from './queue.ts';

/**
 * Redis holds a window of the work, not the library. The ledger already lists every record of a
 * batch as pending; Redis gets at most `size` jobs at a time (waiting, delayed, active...), and whoever
 * works the batch — `migrate`'s process and every `worker` — refills it from the ledger's pending
 * records in queue order (priority, then id) as jobs finish. A million-image library then needs the
 * Redis memory of ten thousand jobs.
 *
 * Where the window has got to is a cursor kept in Redis beside the jobs, so losing Redis (a flush, a
 * restart without persistence) loses both together: the next refill starts again from the first
 * pending record and the batch heals by itself. Refills of one batch take a lock, so two refillers
 * never hand over the same page; if one did (a lock that expired), the deterministic job ids make the
 * second add a no-op.
 */

export interface WindowDeps {
  ledger: Ledger;
  queue: RecordQueue;
  /** A plain connection for the cursor and the lock. */
  redis: Redis;
  prefix: string;
  /** Jobs Redis may hold at once (QUEUE_WINDOW). */
  size: number;
  logger: Logger;
  /**
   * A record whose attempt began this recently may still be in a worker's hands (its job lost with
   * Redis): it is handed over with this delay, so that attempt ends before another starts.
   */
  inFlightMs: number;
  /** This process's id in the worker registry: a refill lock it leaves behind when killed is released by others (takeover.ts). */
  owner?: string | undefined;
}

/** Ledger records per query. */
const PAGE = 1_000;
/**
 * The first page when Redis holds no job at all (a batch starting): the workers wait on it, so it is
 * read and handed over before the rest of the window (a thousand records read, turned into jobs and
 * added took the worker's first job ~100 ms on a busy 2-core machine).
 */
const FIRST_PAGE = 64;
/**
 * Jobs per addBulk: building and sending a thousand jobs at once holds the event loop for tens of
 * milliseconds, during which no upload answer in this process is seen to and no next upload is sent.
 */
const ADD_CHUNK = 128;
/** How long a refill may hold the lock before another refiller may take over. */
const LOCK_MS = 30_000;
const STATES = ['wait', 'prioritized', 'delayed', 'active', 'waiting-children'] as const;

interface Cursor {
  priority: number;
  id: number;
  /**
   * The batch's creation time: a cursor left by another ledger's batch of the same id (a ledger
   * created anew beside the same Redis and QUEUE_PREFIX, as the demo does) is not this batch's.
   */
  created?: number;
  /**
   * Set when the window starts again because Redis lost it: records whose attempt began shortly
   * before may still be in a worker's hands.
   */
  lostAt?: number;
}

const START: Cursor = { priority: -1, id: 0 };

const cursorKey = (prefix: string, batchId: number) => `${prefix}:media-migrate:window:${batchId}`;
const lockKey = (prefix: string, batchId: number) => `${prefix}:media-migrate:window-lock:${batchId}`;

/** Jobs Redis holds that count against the window (every batch's: they share the queue). */
export async function jobsInWindow(queue: RecordQueue): Promise<number> {
  const counts = await queue.getJobCounts(...STATES);
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

async function withLock<T>(deps: WindowDeps, batchId: number, work: () => Promise<T>): Promise<T | undefined> {
  const key = lockKey(deps.prefix, batchId);
  const token = `${deps.owner ?? '-'}|${randomBytes(8).toString('hex')}`;
  if ((await deps.redis.set(key, token, 'PX', LOCK_MS, 'NX')) !== 'OK') return undefined;
  try {
    return await work();
  } finally {
    await deps.redis.eval(RELEASE, 1, key, token).catch(() => {});
  }
}

export interface RefillResult {
  /** Jobs handed to Redis by this call. */
  added: number;
  /** Whether the cursor has passed the batch's last pending record. */
  exhausted: boolean;
  /** False when another refiller held the batch's lock: nothing was done. */
  locked: boolean;
}

/**
 * Hands Redis the batch's next pending records, up to the room left in the window. Safe to call
 * from any number of processes at any time.
 *
 * The batches of a ledger share its queue, so one batch could fill the whole window with jobs nobody
 * takes (every worker refuses it: the media is not mounted anywhere) and starve the others. So each
 * open batch may always hold its share of the window (QUEUE_WINDOW divided among the open batches),
 * even when the window is full; Redis then holds at most twice QUEUE_WINDOW.
 */
export async function refillWindow(deps: WindowDeps, batch: Batch, opts: { openBatches?: number } = {}): Promise<RefillResult> {
  const r = await withLock(deps, batch.id, async () => {
    const held = await jobsInWindow(deps.queue);
    let room = deps.size - held;
    const key = cursorKey(deps.prefix, batch.id);
    const created = batch.createdAt.getTime();
    const stored = await deps.redis.get(key);
    const raw = stored ? (JSON.parse(stored) as Cursor) : undefined;
    const mine = raw && (raw.created === undefined || raw.created === created) ? raw : undefined;
    // No cursor for a batch that has made progress: Redis lost the window (a flush, a restart).
    const lost = mine === undefined && (await deps.ledger.pending.hasProgress(batch.id));
    let cursor: Cursor = mine ?? (lost ? { ...START, lostAt: Date.now() } : START);
    if (lost) deps.logger.warn({ batch: batch.id }, 'Redis lost the queue window; handing the pending records over again');
    if (room <= 0) room = await shareLeft(deps, batch, cursor, opts.openBatches);
    let added = 0;
    let pageSize = held === 0 ? FIRST_PAGE : PAGE;
    while (room > 0) {
      const page = await deps.ledger.pending.after(batch.id, cursor, Math.min(pageSize, room));
      pageSize = PAGE;
      if (page.length === 0) return { added, exhausted: true, locked: true };
      await addWindowJobs(deps, page, cursor.lostAt, lost);
      const last = page[page.length - 1]!;
      cursor = { priority: last.priority, id: last.id, created, ...(cursor.lostAt ? { lostAt: cursor.lostAt } : {}) };
      // The cursor moves only once the jobs are in: a crash in between re-adds a page (a no-op).
      await deps.redis.set(key, JSON.stringify(cursor));
      added += page.length;
      room -= page.length;
    }
    return { added, exhausted: false, locked: true };
  });
  return r ?? { added: 0, exhausted: false, locked: false };
}

/** Room for a batch in a full window: what it lacks of its share of it (none when it is the only open batch). */
async function shareLeft(deps: WindowDeps, batch: Batch, cursor: Cursor, openBatches?: number): Promise<number> {
  const open = openBatches ?? (await deps.ledger.batches.open()).length;
  if (open <= 1) return 0;
  const share = Math.ceil(deps.size / open);
  return Math.max(0, share - (await deps.ledger.pending.handedOver(batch.id, cursor, share)));
}

/**
 * Starts the batch's window again from its first pending record: after `retry-failed` reopened
 * records the cursor has passed, or when records are pending that no job in Redis stands for.
 */
export async function resetWindow(deps: Pick<WindowDeps, 'redis' | 'prefix'>, batchId: number): Promise<void> {
  await deps.redis.set(cursorKey(deps.prefix, batchId), JSON.stringify(START));
}

/**
 * Hands Redis again the batch's records that were reopened in the ledger (or that no job stands for):
 * the finished jobs Redis still keeps for them are removed first — a job id Redis holds makes a new
 * add a no-op — then the window starts again from the first pending record.
 */
export async function restartWindow(deps: WindowDeps, batchId: number): Promise<void> {
  await removeFinishedJobs(deps, batchId);
  await resetWindow(deps, batchId);
  const batch = await deps.ledger.batches.get(batchId);
  if (batch) await refillWindow(deps, batch);
}

/** The finished jobs of this batch Redis still keeps (its removeOnComplete/removeOnFail counts) whose record is pending again. */
async function removeFinishedJobs(deps: WindowDeps, batchId: number): Promise<void> {
  const mine = `${jobIdFor({ batchId, table: 't', column: 'c', pk: 'p' }).split('-')[0]}-`;
  const jobs = [...(await deps.queue.getFailed(0, -1)), ...(await deps.queue.getCompleted(0, -1))].filter((j) => j.id?.startsWith(mine));
  for (const job of jobs) {
    const rec = await deps.ledger.records.get({ batchId, table: job.data.t, column: job.data.c, pk: job.data.pk });
    if (rec?.outcome === Outcome.pending) await job.remove();
  }
}

/**
 * Right after Redis lost the window, the jobs that were running are still in their workers' hands,
 * and which they are is unknowable (an attempt is noted in the ledger only once it has begun): the
 * first window handed over again waits `inFlightMs`, so they end before their records run again.
 * Later windows delay only records whose attempt began around the loss.
 */
async function addWindowJobs(deps: WindowDeps, records: readonly WindowRecord[], lostAt: number | undefined, justLost: boolean): Promise<void> {
  const recent = lostAt === undefined ? Infinity : lostAt - deps.inFlightMs;
  for (let i = 0; i < records.length; i += ADD_CHUNK) {
    await deps.queue.addBulk(
      records.slice(i, i + ADD_CHUNK).map((r) => ({
        name: `${r.table}.${r.column}`,
        data: toJobData(r, deps.ledger.id),
        opts: {
          jobId: jobIdFor(r),
          // In flight when Redis was lost: let that attempt end before another starts.
          ...(justLost || (r.attempts > 0 && r.updatedAt.getTime() > recent) ? { delay: deps.inFlightMs } : {}),
        },
      })),
    );
  }
}

export interface Refiller {
  /** Refill now (also runs on a timer and whenever the worker runs dry). */
  kick(): void;
  stop(): Promise<void>;
}

/**
 * Keeps the window of every open batch full: each tick refills the batches that are enqueued, not
 * rolled back or halted, and still have pending records. When a batch has pending records, its cursor
 * is past all of them and Redis holds no job at all for a while, its window starts again (jobs removed
 * by hand, say): they are re-added.
 */
export function startRefiller(deps: WindowDeps, opts: { everyMs?: number; healAfterMs?: number; batches?: () => Promise<Batch[]> } = {}): Refiller {
  const everyMs = opts.everyMs ?? 1_000;
  const healAfterMs = opts.healAfterMs ?? 10_000;
  const idleSince = new Map<number, number>();
  let running: Promise<void> | undefined;
  let stopped = false;

  const tick = async () => {
    const batches = opts.batches ? await opts.batches() : await deps.ledger.batches.open();
    for (const batch of batches) {
      const r = await refillWindow(deps, batch, { openBatches: batches.length });
      if (!r.locked || !r.exhausted || r.added > 0) {
        idleSince.delete(batch.id);
        continue;
      }
      if ((await jobsInWindow(deps.queue)) > 0) {
        idleSince.delete(batch.id);
        continue;
      }
      const since = idleSince.get(batch.id) ?? Date.now();
      idleSince.set(batch.id, since);
      if (Date.now() - since >= healAfterMs) {
        deps.logger.warn({ batch: batch.id }, 'records are pending but Redis holds no job for them; handing them over again');
        idleSince.delete(batch.id);
        await restartWindow(deps, batch.id);
      }
    }
  };

  const kick = () => {
    if (stopped || running) return;
    running = tick()
      .catch((err: unknown) => deps.logger.warn({ error: errorMessage(err) }, 'could not refill the queue window; will retry'))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(kick, everyMs);
  timer.unref();
  kick();
  return {
    kick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
