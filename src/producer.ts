import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { ExitError } from './errors.ts';
import type { Batch, BatchSpec, Ledger, RecordRef } from './ledger.ts';
import { jobIdFor, toJobData, type RecordQueue } from './queue.ts';
import { inPlaceId } from './cutover/in-place-id.ts';
import type { Source } from './sources.ts';
import { isRemoteUrl } from './storage-convention.ts';

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

/**
 * Streams a source table's primary keys in order (with the column's values when asked), a page at a
 * time: never the whole table in memory.
 */
export async function* scanRows(
  db: Knex,
  source: Source,
  pageSize: number,
  withValues = false,
): AsyncGenerator<{ pk: unknown; value: string | undefined }[]> {
  let last: unknown = undefined;
  for (;;) {
    const q = db(source.table).select(withValues ? [source.pk, source.column] : [source.pk]).orderBy(source.pk).limit(pageSize);
    if (last !== undefined) q.where(source.pk, '>', last as Knex.Value);
    const rows = (await q) as Record<string, unknown>[];
    if (rows.length === 0) return;
    yield rows.map((r) => ({ pk: r[source.pk], value: r[source.column] == null ? undefined : String(r[source.column]) }));
    last = rows[rows.length - 1]![source.pk];
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
  // A migrate batch rewrites what the newest standing stage batch placed, instead of uploading it.
  const stage = spec.kind === 'migrate' ? await ledger.latestStageBatch(spec.prefix) : undefined;
  return { batch: await ledger.createBatch(spec, { stageBatchId: stage?.id }), resumed: false };
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

/** Priorities in the ledger: what the queue takes first (0) and last (1). */
const FIRST = 0;
const LAST = 1;

/**
 * Records every row of the batch's sources in the ledger as pending and enqueues one job per record.
 * Safe to repeat: the ledger insert ignores records it has, and only records still pending are handed
 * to Redis again, which is how a batch survives losing Redis. Returns how many jobs it handed over.
 *
 * A migrate batch after a stage batch queues first what the stage could not place (or what changed
 * since): after the switch those rows point at nothing until rewritten, while a staged row is served
 * all along. The ledger keeps that order (its `priority`), so a resumed batch keeps it too.
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
  const send = async (refs: readonly RecordRef[]) => {
    await adds.add(addJobs(deps.queue, refs));
    enqueued += refs.length;
  };
  const sendPending = async (priority: number | undefined) => {
    let after = 0;
    const pending = readAhead(async () => {
      const page = await ledger.pendingPage(batch.id, after, pageSize, priority);
      if (page.length === 0) return undefined;
      after = page[page.length - 1]!.id;
      return page;
    });
    for await (const page of pending) await send(page);
  };
  const ordered = batch.stageBatchId !== undefined;
  try {
    if (!batch.enqueuedAt) {
      for (const source of batch.sources) {
        const pages = scanRows(deps.db, source, pageSize, ordered || batch.kind === 'stage');
        const recorded = readAhead(async () => {
          const page = await pages.next();
          if (page.done) return undefined;
          const { first, last } = await splitByStage(ledger, batch, source, page.value);
          if (batch.kind === 'stage') await ledger.addPendingClaims(batch.id, source, claims(batch, page.value));
          else await ledger.addPending(batch.id, source, first, FIRST);
          await ledger.addPending(batch.id, source, last, LAST);
          // A fresh batch has just inserted them all; a resumed one re-sends only what is unfinished.
          return resumed ? [...(await ledger.pendingAmong(batch.id, source, first))] : first;
        });
        for await (const todo of recorded) {
          await send(todo.map((pk) => ({ batchId: batch.id, table: source.table, column: source.column, pk })));
        }
      }
      if (ordered) {
        await adds.drain();
        await sendPending(LAST);
      }
      // Every job is in Redis before the batch says its scan is complete.
      await adds.drain();
      await ledger.markEnqueued(batch.id);
      return enqueued;
    }
    if (ordered) {
      await sendPending(FIRST);
      await adds.drain();
      await sendPending(LAST);
    } else {
      await sendPending(undefined);
    }
    await adds.drain();
    return enqueued;
  } finally {
    // On an error, let the calls already sent finish before the caller closes the connection.
    await adds.drain().catch(() => {});
  }
}

/** Each row's value and the in-place id it claims, for a stage batch's collision checks. */
function claims(batch: Batch, rows: { pk: unknown; value: string | undefined }[]) {
  return rows.map((r) => {
    const path = r.value !== undefined && r.value.trim() !== '' && !isRemoteUrl(r.value);
    return { pk: String(r.pk), value: r.value ?? null, publicId: path ? inPlaceId(r.value!, batch.prefix) : null };
  });
}

/** Rows whose current value a stage batch placed go last; everything else first. */
async function splitByStage(
  ledger: Ledger,
  batch: Batch,
  source: Source,
  rows: { pk: unknown; value: string | undefined }[],
): Promise<{ first: string[]; last: string[] }> {
  const pks = rows.map((r) => String(r.pk));
  if (batch.stageBatchId === undefined) return { first: pks, last: [] };
  const staged = await ledger.stagedValues(batch.stageBatchId, source, pks);
  const first: string[] = [];
  const last: string[] = [];
  for (const r of rows) {
    const pk = String(r.pk);
    if (r.value !== undefined && staged.get(pk) === r.value) last.push(pk);
    else first.push(pk);
  }
  return { first, last };
}

/** `media-migrate enqueue`: open the batch, enqueue what it still needs, say what happened. */
export async function enqueueBatch(deps: EnqueueDeps, spec: BatchSpec, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
  const { batch, resumed } = await openBatch(deps.ledger, spec, opts.batchId);
  const enqueued = await enqueueRecords(deps, batch, resumed, opts.pageSize);
  deps.logger.info({ batch: batch.id, resumed, enqueued }, resumed ? 'batch resumed' : 'batch enqueued');
  return { batch: (await deps.ledger.getBatch(batch.id)) ?? batch, resumed, enqueued };
}
