import type { Redis } from 'ioredis';

/**
 * Events that leave no trace in the ledger (a rate-limit pause, a retried attempt, a wait for the
 * database) are counted in one Redis hash shared by every worker, for the dashboard's metrics.
 * Losing them with Redis only resets counters, which Prometheus handles.
 */
export const Counter = {
  rateLimited: 'rate_limited',
  retried: 'retried',
  databaseWaits: 'database_waits',
  halted: 'halted',
} as const;
export type Counter = (typeof Counter)[keyof typeof Counter];

export function countersKey(prefix: string): string {
  return `${prefix}:media-migrate:counters`;
}

export async function bump(redis: Redis, prefix: string, counter: Counter): Promise<void> {
  await redis.hincrby(countersKey(prefix), counter, 1);
}

export async function readCounters(redis: Redis, prefix: string): Promise<Record<Counter, number>> {
  const raw = await redis.hgetall(countersKey(prefix));
  const out = {} as Record<Counter, number>;
  for (const c of Object.values(Counter)) out[c] = Number(raw[c] ?? 0);
  return out;
}
