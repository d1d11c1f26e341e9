import { setTimeout as sleep } from 'node:timers/promises';
import { WaitingError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { LedgerName } from '../config/config.ts';
import { foreignJobMessage, ledgerDatabase } from './ledger-space.ts';
import type { RecordJobData } from './queue.ts';

/*
 * By default a ledger's jobs live in its own space in Redis (ledger-space.ts), so no process ever meets
 * another ledger's job. One moved there by hand is left to its own workers, as the guard below does.
 */

/** How long a worker slot rests after handing back another ledger's job, so it does not take it again at once. */
const FOREIGN_REST_MS = 1_000;

/**
 * For the worker's processor: returns when the job is this ledger's (or says no ledger: added by hand
 * to this ledger's queue); else puts it back in the queue at once — attempts untouched, not delayed,
 * neither failed nor completed — says so once per other ledger, and throws BullMQ's WaitingError.
 */
export function foreignJobGuard(mine: LedgerName | undefined, redis: Redis, logger: Logger) {
  const said = new Set<string>();
  return async (job: Job<RecordJobData, unknown>, token: string | undefined): Promise<void> => {
    const owner = job.data.l;
    if (owner === undefined || mine === undefined || owner === mine.id) return;
    await job.moveToWait(token);
    if (!said.has(owner)) {
      said.add(owner);
      const database = await ledgerDatabase(redis, mine.queuePrefix, owner).catch(() => undefined);
      logger.warn({ ledger: mine.id, otherLedger: owner }, foreignJobMessage(mine, { id: owner, database }));
    }
    await sleep(FOREIGN_REST_MS);
    throw new WaitingError();
  };
}
