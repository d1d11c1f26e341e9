import type { Ledger } from '../src/ledger/ledger.ts';

/**
 * The page polls every 2 s, bull-board asks for its queue's description up to once a second and
 * Prometheus scrapes the metrics, each counting a batch's records by source and outcome: a read of
 * every record of the batch. On a batch of a million records one count costs PostgreSQL ~0.3 s of
 * CPU, and done that often it would take a core away from the workers. So the dashboard keeps each
 * batch's counts for at least 2 s, and for ten times what the last count took: a small batch is as
 * fresh as the page asks, a huge one costs the database at most a tenth of a core, whoever asks.
 * A change made from the page itself (a retry, a new batch) forgets what it changed.
 */
export interface CountsCache {
  /** Drops the counts kept for this batch (or every batch), so the next read counts again. */
  forget(batchId?: number): void;
}

export function cacheCounts(ledger: Ledger, opts: { minMs?: number; factor?: number; now?: () => number } = {}): Ledger & CountsCache {
  const minMs = opts.minMs ?? 2_000;
  const factor = opts.factor ?? 10;
  const now = opts.now ?? Date.now;
  const kept = new Map<number, { at: number; tookMs: number; value: ReturnType<Ledger['counts']['bySource']> }>();
  const counts = Object.create(ledger.counts) as Ledger['counts'];
  const cached = Object.create(ledger, { counts: { value: counts } }) as Ledger & CountsCache;
  counts.bySource = (batchId: number) => {
    const hit = kept.get(batchId);
    if (hit && now() - hit.at < Math.max(minMs, factor * hit.tookMs)) return hit.value;
    const started = now();
    const value = ledger.counts.bySource(batchId);
    const entry = { at: started, tookMs: 0, value };
    kept.set(batchId, entry);
    value.then(
      (bySource) => {
        entry.tookMs = now() - started;
        // A batch with no record yet is being recorded: its first records must show at once, not a
        // count later (kept, "nothing pending" would read as finished the moment it is recorded).
        // Counting nothing is cheap.
        if (bySource.every((c) => c.total === 0) && kept.get(batchId) === entry) kept.delete(batchId);
      },
      () => kept.get(batchId) === entry && kept.delete(batchId),
    );
    return value;
  };
  cached.forget = (batchId) => {
    if (batchId === undefined) kept.clear();
    else kept.delete(batchId);
  };
  return cached;
}
