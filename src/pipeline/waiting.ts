import type { Redis } from 'ioredis';
import type { UploadConfig } from '../config/config.ts';
import type { RecordQueue } from './queue.ts';
import { deadProcesses, holders } from './worker-registry.ts';

/**
 * What a run waits for when its batch makes no progress, for its progress line: a rate limit, a paused
 * queue, records in another process's hands (alive, known dead and being taken over, or of a process
 * that stopped answering, with how long its lock still holds them), records waiting to retry. Instead of
 * a silent 299/300.
 */
export interface WaitingDeps {
  queue: RecordQueue;
  redis: Redis;
  /** This ledger's key prefix. */
  prefix: string;
  upload: Pick<UploadConfig, 'lockDurationMs' | 'stalledIntervalMs'>;
  /** This process's BullMQ worker id: what it holds itself is no wait. */
  self?: string | undefined;
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1_000));
const records = (n: number) => `${n} record${n === 1 ? '' : 's'}`;

export async function waitingFor(deps: WaitingDeps, batchId: number): Promise<string | undefined> {
  const limited = await deps.redis.pttl(deps.queue.keys.limiter!);
  if (limited > 0) return `Cloudinary's rate limit (${seconds(limited)} s)`;
  if (await deps.queue.isPaused()) return 'the queue, which is paused (a halted batch? see media-migrate status)';
  const mine = `b${batchId}-`;
  const parts: string[] = [];

  const active = (await deps.redis.lrange(deps.queue.keys.active!, 0, -1)).filter((id) => id.startsWith(mine));
  if (active.length > 0) {
    const locks = await deps.redis.mget(active.map((id) => `${deps.queue.toKey(id)}:lock`));
    const ttls = await Promise.all(active.map((id) => deps.redis.pttl(`${deps.queue.toKey(id)}:lock`)));
    const known = await holders(deps.redis, deps.prefix);
    const dead = new Set((await deadProcesses(deps.redis, deps.prefix, known)).map((d) => d.state.worker));
    const byWorker = new Map(known.map((w) => [w.worker, w]));
    const alive = new Map<string, number>();
    const dying = new Map<string, number>();
    let orphans = 0;
    let longest = 0;
    locks.forEach((lock, i) => {
      const holder = lock ? lock.split(':')[0]! : undefined;
      if (holder !== undefined && holder === deps.self) return;
      const w = holder ? byWorker.get(holder) : undefined;
      const name = w ? `${w.host}:${w.pid}` : undefined;
      if (w && name && dead.has(w.worker)) dying.set(name, (dying.get(name) ?? 0) + 1);
      else if (w && name) alive.set(name, (alive.get(name) ?? 0) + 1);
      else {
        orphans++;
        longest = Math.max(longest, ttls[i] ?? 0);
      }
    });
    for (const [name, n] of alive) parts.push(`${records(n)} in progress on ${name}`);
    for (const [name, n] of dying) parts.push(`${records(n)} of ${name}, which stopped: taking them over`);
    if (orphans > 0) {
      // Held by a process that said nothing of itself (an older version, or gone long ago): BullMQ
      // hands them out once the lock expires and its next stalled check runs.
      const within = seconds(longest + deps.upload.stalledIntervalMs);
      parts.push(`${records(orphans)} held by a process that stopped answering (back in the queue within ${within} s: LOCK_DURATION_MS, then STALLED_INTERVAL_MS)`);
    }
  }

  const delayed = await deps.redis.zrange(deps.queue.keys.delayed!, 0, -1, 'WITHSCORES');
  let waitingRetry = 0;
  let next = Infinity;
  for (let i = 0; i + 1 < delayed.length; i += 2) {
    if (!delayed[i]!.startsWith(mine)) continue;
    waitingRetry++;
    // BullMQ scores a delayed job by its due time times 4096 (getDelayedScore.lua).
    next = Math.min(next, Math.floor(Number(delayed[i + 1]) / 0x1000));
  }
  if (waitingRetry > 0) parts.push(`${records(waitingRetry)} waiting to be tried again (the next in ${seconds(next - Date.now())} s)`);
  return parts.length > 0 ? parts.join('; ') : undefined;
}
