import { randomBytes } from 'node:crypto';
import { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import type { RecordQueue } from './queue.ts';
import { deadProcesses, forgetProcess, type DeadProcess } from './worker-registry.ts';

/**
 * A process killed mid-batch (SIGKILL, a double Ctrl-C, a machine lost) leaves its jobs active in
 * Redis under its lock; BullMQ hands them out again only once the lock has expired (LOCK_DURATION_MS)
 * and its stalled check has run (STALLED_INTERVAL_MS): a minute by default, during which a re-run sat
 * at 299/300 saying nothing. Every worker process looks each second for jobs whose holder is known
 * dead (worker-registry.ts: on this machine its process id is gone, elsewhere its heartbeat lapsed)
 * and puts them back in the queue at once, as BullMQ's stalled check would, counted as a stall.
 *
 * A job whose holder may still be alive is never touched: it is not in the registry, or its process
 * id exists here, or its heartbeat is fresh. And every step of a record is safe to repeat anyway: the
 * ledger notes the attempt before the upload, the public_id is deterministic (a second upload meets
 * the asset), and the row is written by compare-and-swap.
 */

export interface TakeoverDeps {
  queue: RecordQueue;
  /** A plain connection to the queue's Redis. */
  redis: Redis;
  /** This ledger's key prefix. */
  prefix: string;
  logger: Logger;
  /** BullMQ's limit: a job stalled more often is left for BullMQ to fail (a file that kills its worker). */
  maxStalledCount: number;
}

/** One process takes over at a time: two would count one stall twice. */
const reapLockKey = (prefix: string) => `${prefix}:media-migrate:takeover-lock`;
const windowLocks = (prefix: string) => `${prefix}:media-migrate:window-lock:*`;

/** Counts the stall, only while the dead holder's lock is still on the job (as BullMQ's stalled check does). */
const COUNT_STALL = `if redis.call('get', KEYS[1] .. ':lock') == ARGV[1] then return redis.call('hincrby', KEYS[1], 'stc', 1) else return -1 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** Takes over the jobs of every process known dead; returns how many it put back in the queue. */
export async function takeOverDead(deps: TakeoverDeps): Promise<number> {
  const dead = await deadProcesses(deps.redis, deps.prefix);
  if (dead.length === 0) return 0;
  const token = randomBytes(8).toString('hex');
  if ((await deps.redis.set(reapLockKey(deps.prefix), token, 'PX', 10_000, 'NX')) !== 'OK') return 0;
  try {
    const byWorker = new Map(dead.map((d) => [d.state.worker, d]));
    const taken = new Map<DeadProcess, number>();
    const ids = await deps.redis.lrange(deps.queue.keys.active!, 0, -1);
    const locks = ids.length > 0 ? await deps.redis.mget(ids.map((id) => `${deps.queue.toKey(id)}:lock`)) : [];
    for (const [i, id] of ids.entries()) {
      const lock = locks[i];
      const holder = lock ? byWorker.get(lock.split(':')[0]!) : undefined;
      if (!lock || !holder) continue;
      if (await backInQueue(deps, id, lock)) taken.set(holder, (taken.get(holder) ?? 0) + 1);
    }
    for (const d of dead) {
      await releaseWindowLocks(deps, d.state.id);
      await forgetProcess(deps.redis, deps.prefix, d.state.id);
      const n = taken.get(d) ?? 0;
      const msg = `worker ${d.state.host}:${d.state.pid} stopped (${d.why}); ${n === 0 ? 'it held no job' : `its ${n} job${n === 1 ? '' : 's'} went back to the queue at once`}`;
      deps.logger[n > 0 ? 'warn' : 'info']({ worker: d.state.id, taken: n }, msg);
    }
    return [...taken.values()].reduce((a, b) => a + b, 0);
  } finally {
    await deps.redis.eval(RELEASE, 1, reapLockKey(deps.prefix), token).catch(() => {});
  }
}

async function backInQueue(deps: TakeoverDeps, id: string, lock: string): Promise<boolean> {
  const jobKey = deps.queue.toKey(id);
  const stalls = Number(await deps.redis.eval(COUNT_STALL, 1, jobKey, lock));
  // The lock changed meanwhile (it expired and another worker took the job): not ours to move.
  if (stalls < 0) return false;
  // Stalled too often: BullMQ fails it once the lock expires, as it would have without us.
  if (stalls > deps.maxStalledCount) return false;
  const job = await Job.fromId(deps.queue, id);
  if (!job) return false;
  try {
    await job.moveToWait(lock);
    return true;
  } catch (err) {
    deps.logger.debug({ jobId: id, error: errorMessage(err) }, 'a dead worker\'s job could not be moved back (its lock changed)');
    return false;
  }
}

/** The queue-window locks a dead process held (queue-window.ts tokens start with its registry id). */
async function releaseWindowLocks(deps: TakeoverDeps, owner: string): Promise<void> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await deps.redis.scan(cursor, 'MATCH', windowLocks(deps.prefix), 'COUNT', 500);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  for (const key of keys) {
    const value = await deps.redis.get(key);
    if (value?.startsWith(`${owner}|`)) await deps.redis.eval(RELEASE, 1, key, value);
  }
}

export interface Takeover {
  stop(): Promise<void>;
}

/** Looks for dead processes' jobs now, then every `everyMs`. */
export function startTakeover(deps: TakeoverDeps, everyMs = 1_000): Takeover {
  let running: Promise<unknown> | undefined;
  const tick = () => {
    if (running) return;
    running = takeOverDead(deps)
      .catch((err: unknown) => deps.logger.debug({ error: errorMessage(err) }, 'could not look for dead workers\' jobs; will retry'))
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, everyMs);
  timer.unref();
  tick();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
