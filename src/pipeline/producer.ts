import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { scanRows } from '../db/scan-rows.ts';
import { ExitError } from '../errors.ts';
import type { Batch, BatchSpec, Ledger, RecordRef } from '../ledger/ledger.ts';
import { jobIdFor, toJobData, type RecordQueue } from './queue.ts';
import { firstUnseen, takeFingerprint } from './media-guard.ts';
import { readRecordList, summarizeRecordList } from '../config/record-list.ts';
import { refillWindow, type WindowDeps } from './queue-window.ts';
import { inPlaceId } from '../cloudinary/in-place-id.ts';
import { resourceTypeOf, type Source } from '../config/sources.ts';
import { isRemoteUrl } from '../cloudinary/storage-convention.ts';

export interface EnqueueDeps {
  db: Knex;
  ledger: Ledger;
  queue: RecordQueue;
  /** A plain connection to the queue's Redis: the window's cursor and lock live there. */
  redis: Redis;
  logger: Logger;
  /** MEDIA_ROOT, when this machine has it: the batch records a fingerprint of it for the workers. */
  mediaRoot?: string | undefined;
  /** The queue window (QUEUE_WINDOW, and how long an attempt may still be in a worker's hands). */
  window?: { size: number; inFlightMs: number } | undefined;
}

const DEFAULT_WINDOW = { size: 10_000, inFlightMs: 30_000 };

export interface EnqueueOptions {
  /** Resume this batch instead of the newest unfinished one with the same settings. */
  batchId?: number | undefined;
  /** Rows per keyset page and per ledger insert. */
  pageSize?: number;
}

export interface EnqueueResult {
  batch: Batch;
  resumed: boolean;
  /** Jobs handed to Redis by this call: the first window (or what it was missing). */
  enqueued: number;
}

/** Adds one job per record; fixed job ids make re-sending a chunk harmless. */
export async function addJobs(queue: RecordQueue, refs: readonly RecordRef[], ledgerId?: string): Promise<void> {
  if (refs.length === 0) return;
  await queue.addBulk(
    refs.map((ref) => ({ name: `${ref.table}.${ref.column}`, data: toJobData(ref, ledgerId), opts: { jobId: jobIdFor(ref) } })),
  );
}

/** The batch to work on: the one asked for, else the newest unfinished one like it, else a new one. */
export async function openBatch(
  ledger: Ledger,
  spec: BatchSpec,
  batchId?: number,
): Promise<{ batch: Batch; resumed: boolean }> {
  if (batchId !== undefined) {
    const batch = await ledger.batches.get(batchId);
    if (!batch) throw new ExitError(2, `--batch ${batchId}: no such batch`);
    if (batch.rolledBackAt) throw new ExitError(2, `--batch ${batchId}: this batch was rolled back; start a new one`);
    return { batch, resumed: true };
  }
  const found = await ledger.batches.findResumable(spec);
  if (found) return { batch: found, resumed: true };
  // A migrate batch rewrites what the newest standing stage batch placed, instead of uploading it.
  const stage = spec.kind === 'migrate' ? await ledger.batches.latestStage(spec.prefix) : undefined;
  return { batch: await ledger.batches.create(spec, { stageBatchId: stage?.id }), resumed: false };
}

/** Rows per keyset page and per ledger insert. */
const PAGE_SIZE = 1_000;

/**
 * Yields what `next()` produces, asking for the following item as soon as one is handed out, so the
 * database reads page k+1 while page k is being recorded. Ends at the first undefined. One item
 * ahead at most: memory stays a page or two, never the table.
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
 * Records every row of the batch's sources in the ledger as pending, then hands Redis the first
 * window of jobs; workers refill it from the ledger as jobs finish (see queue-window.ts). Safe to
 * repeat: the ledger insert ignores records it has, and a resumed batch's window carries on where it
 * was, or starts again from its first pending record when Redis lost it. Returns how many jobs it
 * handed over.
 *
 * A migrate batch after a stage batch records first what the stage could not place (or what changed
 * since): after the switch those rows point at nothing until rewritten, while a staged row is served
 * all along. The ledger keeps that order (its `priority`), and the window follows it.
 */
export async function enqueueRecords(deps: EnqueueDeps, batch: Batch, _resumed: boolean, pageSize = PAGE_SIZE): Promise<number> {
  if (!batch.enqueuedAt) {
    await recordBatch(deps, batch, pageSize);
    if (batch.kind === 'stage' && batch.claimSources) await recordOutsideClaims(deps, batch, batch.claimSources, pageSize);
    if (deps.mediaRoot && !batch.fingerprint) await fingerprint(deps, batch, deps.mediaRoot);
    // Every record is in the ledger before the batch says its scan is complete, and before any
    // refiller (which only takes complete batches) moves its window.
    await deps.ledger.batches.markEnqueued(batch.id);
  }
  const current = (await deps.ledger.batches.get(batch.id)) ?? batch;
  const r = await refillWindow(windowDeps(deps), current);
  return r.added;
}

/**
 * The ledger rows of every row of the batch's sources within its scope, a page at a time, the next
 * page read ahead. A limit counts over the whole batch: the sources in order, each by primary key.
 */
async function recordBatch(deps: EnqueueDeps, batch: Batch, pageSize: number): Promise<void> {
  if (batch.scope.from) return recordListed(deps, batch, pageSize);
  const withValues = batch.stageBatchId !== undefined || batch.kind === 'stage';
  let room = batch.scope.limit ?? Infinity;
  for (const source of batch.sources) {
    if (room <= 0) break;
    const pages = scanRows(deps.db, source, Math.min(pageSize, room), withValues, batch.scope);
    const read = readAhead(async () => {
      if (room <= 0) return undefined;
      const page = await pages.next();
      if (page.done) return undefined;
      const rows = page.value.slice(0, room);
      room -= rows.length;
      return rows;
    });
    for await (const rows of read) await recordRows(deps.ledger, batch, source, rows);
  }
}

/** One page of a source's rows as the batch's pending records (with claims, or in stage order). */
async function recordRows(ledger: Ledger, batch: Batch, source: Source, rows: { pk: unknown; value: string | undefined }[]): Promise<void> {
  if (batch.kind === 'stage') {
    await ledger.records.addPendingClaims(batch.id, source, claims(batch, source, rows));
    return;
  }
  const { first, last } = await splitByStage(ledger, batch, source, rows);
  await ledger.records.addPending(batch.id, source, first, FIRST);
  await ledger.records.addPending(batch.id, source, last, LAST);
}

/**
 * A scoped stage batch stages only part of the library, but after the switch every row is served by
 * its in-place id: a row outside the scope whose value claims the same id as one inside (`a.png` left
 * out, `a.jpg` staged) would be served the other's picture. Every row of every configured source is
 * looked at, a page at a time, and those that claim one of the batch's ids are noted for the
 * collision check. A few ledger look-ups per page; memory stays a page.
 */
async function recordOutsideClaims(deps: EnqueueDeps, batch: Batch, sources: readonly Source[], pageSize: number): Promise<void> {
  for (const source of sources) {
    for await (const rows of scanRows(deps.db, source, pageSize, true)) {
      const mine = claims(batch, source, rows).filter((c): c is typeof c & { publicId: string; value: string } => c.publicId !== null);
      const inBatch = await deps.ledger.cutover.claimsOf(batch.id, mine.map((c) => c.publicId));
      const outside = mine.filter((c) => {
        const holders = inBatch.get(c.publicId);
        return holders !== undefined && !holders.some((r) => r.table === source.table && r.column === source.column && r.pk === c.pk);
      });
      await deps.ledger.cutover.addOutsideClaims(
        batch.id,
        outside.map((c) => ({ publicId: c.publicId, table: source.table, column: source.column, pk: c.pk, value: c.value })),
      );
    }
  }
}

/**
 * A batch `--from FILE`: exactly the rows the file lists that belong to the batch's sources (a line
 * naming no column stands for every source of its table), read a page at a time. The file must be
 * the one the batch was created from (its digest), or resuming would record other rows.
 */
async function recordListed(deps: EnqueueDeps, batch: Batch, pageSize: number): Promise<void> {
  const from = batch.scope.from!;
  const now = await summarizeRecordList(from.file);
  if (now.digest !== from.digest) {
    throw new ExitError(2, `--from ${from.file}: the file changed since batch ${batch.id} was created from it; start a new batch`);
  }
  const pages = new Map<Source, string[]>();
  let outside = 0;
  let example = '';
  const flush = async (source: Source) => {
    const pks = pages.get(source) ?? [];
    pages.set(source, []);
    if (pks.length === 0) return;
    const found = (await deps.db(source.table).whereIn(source.pk, pks).select(source.pk, source.column)) as Record<string, unknown>[];
    const byPk = new Map(found.map((r) => [String(r[source.pk]), r[source.column] == null ? undefined : String(r[source.column])]));
    // A listed row that no longer exists is still recorded: it ends as skipped, row_deleted.
    await recordRows(deps.ledger, batch, source, pks.map((pk) => ({ pk, value: byPk.get(pk) })));
  };
  for await (const listed of readRecordList(from.file)) {
    const targets = batch.sources.filter((s) => s.table === listed.table && (listed.column === undefined || s.column === listed.column));
    if (targets.length === 0) {
      outside++;
      example ||= `${listed.table}${listed.column ? `.${listed.column}` : ''}:${listed.pk}`;
      continue;
    }
    for (const source of targets) {
      const page = pages.get(source) ?? [];
      page.push(listed.pk);
      pages.set(source, page);
      if (page.length >= pageSize) await flush(source);
    }
  }
  for (const source of pages.keys()) await flush(source);
  if (outside > 0) {
    deps.logger.warn({ batch: batch.id, outside }, `--from ${from.file}: ${outside} listed rows are of no source of the batch (e.g. ${example}); left out`);
  }
}

/**
 * A few of the batch's files as this machine's MEDIA_ROOT holds them, for every worker to check
 * before it takes the batch's jobs. When none of them is there, the files an earlier batch found in
 * the media folder stand in: a batch started with the wrong MEDIA_ROOT is then refused by every process
 * that has the same wrong one (`migrate` here stops at once, naming the batch), instead of marking its
 * records missing — and taken by the workers that see the media.
 */
async function fingerprint(deps: EnqueueDeps, batch: Batch, mediaRoot: string): Promise<void> {
  const fp = await takeFingerprint(deps.db, batch, mediaRoot);
  if (fp) {
    await deps.ledger.batches.setFingerprint(batch.id, fp);
    return;
  }
  const earlier = await deps.ledger.batches.latestFingerprint(batch.id);
  if (earlier) {
    await deps.ledger.batches.setFingerprint(batch.id, { files: earlier.fingerprint.files, from: earlier.batchId });
    const unseen = await firstUnseen(mediaRoot, earlier.fingerprint);
    const level = unseen ? 'warn' : 'info';
    deps.logger[level](
      { batch: batch.id, setting: 'MEDIA_ROOT', from: earlier.batchId },
      unseen
        ? `MEDIA_ROOT=${mediaRoot}: none of the first files of batch ${batch.id} is there, nor ${unseen.path}, which batch ${earlier.batchId} found in the media folder; workers check batch ${earlier.batchId}'s files before taking batch ${batch.id}'s jobs (is MEDIA_ROOT the folder Django saved uploads in?)`
        : `MEDIA_ROOT=${mediaRoot}: none of the first files of batch ${batch.id} is there; workers check the files batch ${earlier.batchId} found in the media folder before taking its jobs`,
    );
    return;
  }
  deps.logger.warn(
    { batch: batch.id, setting: 'MEDIA_ROOT' },
    `MEDIA_ROOT=${mediaRoot}: none of the first files of batch ${batch.id} is there; workers will not be able to check they see the media (is MEDIA_ROOT the folder Django saved uploads in?)`,
  );
}

/** The window settings of the queue this producer feeds. */
function windowDeps(deps: EnqueueDeps): WindowDeps {
  return {
    ledger: deps.ledger,
    queue: deps.queue,
    redis: deps.redis,
    prefix: deps.queue.opts.prefix ?? 'bull',
    size: deps.window?.size ?? DEFAULT_WINDOW.size,
    inFlightMs: deps.window?.inFlightMs ?? DEFAULT_WINDOW.inFlightMs,
    logger: deps.logger,
  };
}

/** Each row's value and the in-place id it claims, for a stage batch's collision checks. */
function claims(batch: Batch, source: Source, rows: { pk: unknown; value: string | undefined }[]) {
  return rows.map((r) => {
    const path = r.value !== undefined && r.value.trim() !== '' && !isRemoteUrl(r.value);
    return { pk: String(r.pk), value: r.value ?? null, publicId: path ? inPlaceId(r.value!, batch.prefix, resourceTypeOf(source)) : null };
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
  const staged = await ledger.cutover.stagedValues(batch.stageBatchId, source, pks);
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
  return { batch: (await deps.ledger.batches.get(batch.id)) ?? batch, resumed, enqueued };
}
