import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { ExitError } from './errors.ts';
import type { Batch, BatchSpec, Ledger, RecordRef } from './ledger.ts';
import { jobIdFor, toJobData, type RecordQueue } from './queue.ts';
import type { Source } from './sources.ts';

export interface EnqueueDeps {
  db: Knex;
  ledger: Ledger;
  queue: RecordQueue;
  logger: Logger;
}

export interface EnqueueOptions {
  /** Resume this batch instead of the newest unfinished one with the same settings. */
  batchId?: number | undefined;
  /** Rows per keyset page and per `addBulk` call. */
  pageSize?: number;
}

export interface EnqueueResult {
  batch: Batch;
  resumed: boolean;
  /** Jobs handed to Redis by this call (re-adding an id Redis already has is a no-op there). */
  enqueued: number;
}

/** Adds one job per record; fixed job ids make re-sending a chunk harmless. */
export async function addJobs(queue: RecordQueue, refs: readonly RecordRef[]): Promise<void> {
  if (refs.length === 0) return;
  await queue.addBulk(
    refs.map((ref) => ({ name: `${ref.table}.${ref.column}`, data: toJobData(ref), opts: { jobId: jobIdFor(ref) } })),
  );
}

/** Streams a source table's primary keys in order, a page at a time: never the whole table in memory. */
export async function* scanKeys(db: Knex, source: Source, pageSize: number): AsyncGenerator<unknown[]> {
  let last: unknown = undefined;
  for (;;) {
    const q = db(source.table).select(source.pk).orderBy(source.pk).limit(pageSize);
    if (last !== undefined) q.where(source.pk, '>', last as Knex.Value);
    const rows = (await q) as Record<string, unknown>[];
    if (rows.length === 0) return;
    const keys = rows.map((r) => r[source.pk]);
    yield keys;
    last = keys[keys.length - 1];
    if (rows.length < pageSize) return;
  }
}

/** The batch to work on: the one asked for, else the newest unfinished one like it, else a new one. */
export async function openBatch(
  ledger: Ledger,
  spec: BatchSpec,
  batchId?: number,
): Promise<{ batch: Batch; resumed: boolean }> {
  if (batchId !== undefined) {
    const batch = await ledger.getBatch(batchId);
    if (!batch) throw new ExitError(2, `--batch ${batchId}: no such batch`);
    if (batch.rolledBackAt) throw new ExitError(2, `--batch ${batchId}: this batch was rolled back; start a new one`);
    return { batch, resumed: true };
  }
  const found = await ledger.findResumable(spec);
  if (found) return { batch: found, resumed: true };
  return { batch: await ledger.createBatch(spec), resumed: false };
}

/**
 * `addBulk` calls that may be in flight at once. BullMQ sends each as one pipeline of Lua scripts;
 * with the next page read ahead (below), two in flight keep Redis busy while we prepare the next
 * one. Measured in bench/ (2 cores): ~11k rows/s one page at a time without read-ahead, 21-24k
 * with it; 4 in flight was no faster and kept ~10 MB more in memory.
 */
const ADDS_IN_FLIGHT = 2;

/** Rows per keyset page, per ledger insert and per `addBulk` call. */
const PAGE_SIZE = 1_000;

/**
 * A bounded set of running `addBulk` calls. The first failure is kept and rethrown to the loop that
 * feeds it; the calls already running are always waited for, so none is left writing to a connection
 * the caller is about to close.
 */
class InFlight {
  private readonly running = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  constructor(private readonly max: number) {}

  /** Starts tracking `work`; returns once fewer than `max` calls are running. */
  async add(work: Promise<void>): Promise<void> {
    const tracked: Promise<void> = work
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => this.running.delete(tracked));
    this.running.add(tracked);
    while (this.running.size >= this.max) await Promise.race(this.running);
    this.throwIfFailed();
  }

  /** Waits for every running call, then rethrows the first failure, if any. */
  async drain(): Promise<void> {
    await Promise.all(this.running);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}

/**
 * Yields what `next()` produces, asking for the following item as soon as one is handed out, so the
 * database reads (and records) page k+1 while page k travels to Redis. Ends at the first undefined.
 * One item ahead at most: memory stays a page or two, never the table.
 */
async function* readAhead<T>(next: () => Promise<T | undefined>): AsyncGenerator<T> {
  let pending = next();
  try {
    for (;;) {
      const item = await pending;
      if (item === undefined) return;
      pending = next();
      yield item;
    }
  } finally {
    // The consumer stopped early (an error): leave no read-ahead unobserved.
    await pending.catch(() => undefined);
  }
}

/**
 * Records every row of the batch's sources in the ledger as pending and enqueues one job per record.
 * Safe to repeat: the ledger insert ignores records it has, and only records still pending are handed
 * to Redis again, which is how a batch survives losing Redis. Returns how many jobs it handed over.
 *
 * Pipelined, because each step waits on a different server: a page's jobs go to Redis only after its
 * ledger rows are written, but meanwhile the next page is read and recorded, and up to
 * ADDS_IN_FLIGHT pages may be on their way to Redis. So at most ADDS_IN_FLIGHT + 2 pages are in
 * memory, never the whole table.
 */
export async function enqueueRecords(deps: EnqueueDeps, batch: Batch, resumed: boolean, pageSize = PAGE_SIZE): Promise<number> {
  const { ledger } = deps;
  const adds = new InFlight(ADDS_IN_FLIGHT);
  let enqueued = 0;
  try {
    if (!batch.enqueuedAt) {
      for (const source of batch.sources) {
        const pages = scanKeys(deps.db, source, pageSize);
        const recorded = readAhead(async () => {
          const page = await pages.next();
          if (page.done) return undefined;
          const pks = page.value.map(String);
          await ledger.addPending(batch.id, source, pks);
          // A fresh batch has just inserted them all; a resumed one re-sends only what is unfinished.
          return resumed ? [...(await ledger.pendingAmong(batch.id, source, pks))] : pks;
        });
        for await (const todo of recorded) {
          const refs = todo.map((pk) => ({ batchId: batch.id, table: source.table, column: source.column, pk }));
          await adds.add(addJobs(deps.queue, refs));
          enqueued += todo.length;
        }
      }
      // Every job is in Redis before the batch says its scan is complete.
      await adds.drain();
      await ledger.markEnqueued(batch.id);
      return enqueued;
    }
    let after = 0;
    const pending = readAhead(async () => {
      const page = await ledger.pendingPage(batch.id, after, pageSize);
      if (page.length === 0) return undefined;
      after = page[page.length - 1]!.id;
      return page;
    });
    for await (const page of pending) {
      await adds.add(addJobs(deps.queue, page));
      enqueued += page.length;
    }
    await adds.drain();
    return enqueued;
  } finally {
    // On an error, let the calls already sent finish before the caller closes the connection.
    await adds.drain().catch(() => {});
  }
}

/** `media-migrate enqueue`: open the batch, enqueue what it still needs, say what happened. */
export async function enqueueBatch(deps: EnqueueDeps, spec: BatchSpec, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
  const { batch, resumed } = await openBatch(deps.ledger, spec, opts.batchId);
  const enqueued = await enqueueRecords(deps, batch, resumed, opts.pageSize);
  deps.logger.info({ batch: batch.id, resumed, enqueued }, resumed ? 'batch resumed' : 'batch enqueued');
  return { batch: (await deps.ledger.getBatch(batch.id)) ?? batch, resumed, enqueued };
}
