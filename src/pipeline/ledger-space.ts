import type { Redis } from 'ioredis';
import type { LedgerName, RedisConfig } from '../config/config.ts';

/**
 * Two databases — staging and production, two shops — may share one Redis and the default
 * QUEUE_PREFIX. Everything a ledger puts in Redis (the BullMQ queue, the window's cursors and locks,
 * the worker registry, the counters) lives under `QUEUE_PREFIX:<ledger id>`, so a process of one ledger
 * never sees, let alone takes, fails or delays, a job of another. Jobs also carry their ledger's id:
 * a process that meets another ledger's job anyway (keys copied or renamed by hand) leaves it to its
 * own workers (foreign-jobs.ts).
 *
 * The ledgers sharing a QUEUE_PREFIX note themselves in one hash beside their spaces, so a log line
 * can name the other database (never its credentials).
 */

/** The settings of this ledger's space: every key this process writes starts with the returned prefix. */
export function inLedgerSpace(cfg: RedisConfig, ledger: Omit<LedgerName, 'queuePrefix'>): RedisConfig {
  if (cfg.ledger) return cfg;
  return { ...cfg, prefix: `${cfg.prefix}:${ledger.id}`, ledger: { ...ledger, queuePrefix: cfg.prefix } };
}

const ledgersKey = (queuePrefix: string) => `${queuePrefix}:media-migrate:ledgers`;

interface Noted {
  database: string;
  seenAt: string;
}

/** Notes this ledger beside the others on this Redis and prefix; returns the others' databases by ledger id. */
export async function noteLedger(redis: Redis, ledger: LedgerName): Promise<Map<string, string>> {
  const key = ledgersKey(ledger.queuePrefix);
  const entry: Noted = { database: ledger.database, seenAt: new Date().toISOString() };
  const r = await redis.multi().hset(key, ledger.id, JSON.stringify(entry)).hgetall(key).exec();
  const all = (r?.[1]?.[1] ?? {}) as Record<string, string>;
  const others = new Map<string, string>();
  for (const [id, raw] of Object.entries(all)) {
    if (id === ledger.id) continue;
    others.set(id, parse(raw)?.database ?? 'a database of unknown name');
  }
  return others;
}

/** The database of a ledger noted on this Redis and prefix, when it noted itself. */
export async function ledgerDatabase(redis: Redis, queuePrefix: string, id: string): Promise<string | undefined> {
  const raw = await redis.hget(ledgersKey(queuePrefix), id);
  return raw ? parse(raw)?.database : undefined;
}

function parse(raw: string): Noted | undefined {
  try {
    return JSON.parse(raw) as Noted;
  } catch {
    return undefined;
  }
}

/** The line a process logs once when another ledger's job reaches it: both databases, no credentials. */
export function foreignJobMessage(mine: LedgerName, other: { id: string; database: string | undefined }): string {
  const theirs = other.database ? `${other.database}, ledger ${other.id}` : `ledger ${other.id}`;
  return (
    `a job of another database (${theirs}) reached this ledger's queue (${mine.database}, ledger ${mine.id}); ` +
    `it is left untouched for that database's own workers (both share QUEUE_PREFIX=${mine.queuePrefix} on this Redis, and the job was moved into this ledger's keys by hand)`
  );
}
