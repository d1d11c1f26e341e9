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
 * Records every row of the batch's sources in the ledger as pending and enqueues one job per record.
 * Safe to repeat: the ledger insert ignores records it has, and only records still pending are handed
 * to Redis again, which is how a batch survives losing Redis. Returns how many jobs it handed over.
 */
export async function enqueueRecords(deps: EnqueueDeps, batch: Batch, resumed: boolean, pageSize = 1_000): Promise<number> {
  const { ledger } = deps;
  let enqueued = 0;
  if (!batch.enqueuedAt) {
    for (const source of batch.sources) {
      for await (const keys of scanKeys(deps.db, source, pageSize)) {
        const pks = keys.map(String);
        await ledger.addPending(batch.id, source, pks);
        // A fresh batch has just inserted them all; a resumed one re-sends only what is unfinished.
        const todo = resumed ? [...(await ledger.pendingAmong(batch.id, source, pks))] : pks;
        await addJobs(
          deps.queue,
          todo.map((pk) => ({ batchId: batch.id, table: source.table, column: source.column, pk })),
        );
        enqueued += todo.length;
      }
    }
    await ledger.markEnqueued(batch.id);
    return enqueued;
  }
  let after = 0;
  for (;;) {
    const page = await ledger.pendingPage(batch.id, after, pageSize);
    if (page.length === 0) break;
    await addJobs(deps.queue, page);
    enqueued += page.length;
    after = page[page.length - 1]!.id;
  }
  return enqueued;
}

/** `media-migrate enqueue`: open the batch, enqueue what it still needs, say what happened. */
export async function enqueueBatch(deps: EnqueueDeps, spec: BatchSpec, opts: EnqueueOptions = {}): Promise<EnqueueResult> {
  const { batch, resumed } = await openBatch(deps.ledger, spec, opts.batchId);
  const enqueued = await enqueueRecords(deps, batch, resumed, opts.pageSize);
  deps.logger.info({ batch: batch.id, resumed, enqueued }, resumed ? 'batch resumed' : 'batch enqueued');
  return { batch: (await deps.ledger.getBatch(batch.id)) ?? batch, resumed, enqueued };
}
