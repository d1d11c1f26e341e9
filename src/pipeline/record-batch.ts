import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { scanRows } from '../db/scan-rows.ts';
import { ExitError } from '../errors.ts';
import type { Batch, Ledger } from '../ledger/ledger.ts';
import { firstUnseen, takeFingerprint } from './media-guard.ts';
import { readRecordList, summarizeRecordList } from '../config/record-list.ts';
import { inPlaceId } from '../cloudinary/in-place-id.ts';
import { resourceTypeOf, type Source } from '../config/sources.ts';
import { isRemoteUrl } from '../cloudinary/storage-convention.ts';

/**
 * Recording a batch: every row of its sources within its scope becomes a pending record in the
 * ledger, a page at a time, while workers may already take the first ones (see recordAll).
 */

export interface RecordDeps {
  db: Knex;
  ledger: Ledger;
  logger: Logger;
  /** MEDIA_ROOT, when this machine has it: the batch records a fingerprint of it for the workers. */
  mediaRoot?: string | undefined;
}

/** Rows per keyset page and per ledger insert. */
export const PAGE_SIZE = 1_000;

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

export interface RecordOptions {
  pageSize?: number | undefined;
  /** Called after each page of records is in the ledger (a refill can hand them over at once). */
  onPage?: (() => Promise<void> | undefined) | undefined;
  /** Stops recording between pages (the batch stays unrecorded: a re-run carries on). */
  signal?: AbortSignal | undefined;
}

/**
 * Records the batch's rows in the ledger, unless it is fully recorded already. The fingerprint of
 * MEDIA_ROOT comes first: a worker checks it before taking a job of the batch, and a migrate batch's
 * jobs are taken while it is still being recorded (Batches.open). `enqueued_at` is set last: until
 * then nobody may take the batch for finished. A stage batch is taken only once fully recorded: a
 * stage record's collision check needs every value that claims its id from the start (collisions.ts).
 */
export async function recordAll(deps: RecordDeps, batch: Batch, opts: RecordOptions = {}): Promise<void> {
  if (batch.enqueuedAt) return;
  const pageSize = opts.pageSize ?? PAGE_SIZE;
  await fingerprintFirst(deps, batch);
  // Queue order is (priority, id) and the window's cursor only moves forward: a record must never be
  // recorded behind it. Ids grow as records are recorded, so a batch after a stage batch records its
  // first-priority records in a pass of their own, then the rest (every row again, at the last
  // priority: the insert ignores those it has, and a row edited between the passes is not lost).
  // A resumed batch that has last-priority records already skips the first pass: the cursor may be past it.
  const split = batch.kind === 'migrate' && batch.stageBatchId !== undefined && !(await deps.ledger.pending.hasPriority(batch.id, LAST));
  const phases: Phase[] = batch.kind === 'stage' ? ['claims'] : split ? ['first', 'last'] : [batch.stageBatchId !== undefined ? 'last' : 'first'];
  for (const phase of phases) await recordBatch(deps, batch, pageSize, phase, opts);
  if (batch.kind === 'stage' && batch.claimSources) await recordOutsideClaims(deps, batch, batch.claimSources, pageSize);
  await deps.ledger.batches.markEnqueued(batch.id);
}

/** The batch's fingerprint of MEDIA_ROOT, unless it has one (or this machine has no MEDIA_ROOT). */
export async function fingerprintFirst(deps: RecordDeps, batch: Batch): Promise<void> {
  if (deps.mediaRoot && !batch.fingerprint && !batch.enqueuedAt) await fingerprint(deps, batch, deps.mediaRoot);
}

/**
 * How a pass records a page: a stage batch's records with the ids they claim; `first` only the rows
 * a stage batch did not place (at the first priority); `last` every row at the last priority, or at
 * the first when the batch rewrites no stage batch.
 */
type Phase = 'claims' | 'first' | 'last';

/**
 * The ledger rows of every row of the batch's sources within its scope, a page at a time, the next
 * page read ahead. A limit counts over the whole batch: the sources in order, each by primary key.
 */
async function recordBatch(deps: RecordDeps, batch: Batch, pageSize: number, phase: Phase, opts: RecordOptions): Promise<void> {
  if (batch.scope.from) return recordListed(deps, batch, pageSize, phase, opts);
  // Values are read where a page is split by what the stage placed, or claims ids.
  const withValues = phase === 'claims' || (phase === 'first' && batch.stageBatchId !== undefined);
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
    for await (const rows of read) {
      opts.signal?.throwIfAborted();
      await recordRows(deps.ledger, batch, source, rows, phase);
      await opts.onPage?.();
    }
  }
}

/** One page of a source's rows as the batch's pending records (see Phase). */
async function recordRows(ledger: Ledger, batch: Batch, source: Source, rows: { pk: unknown; value: string | undefined }[], phase: Phase): Promise<void> {
  if (phase === 'claims') {
    await ledger.records.addPendingClaims(batch.id, source, claims(batch, source, rows));
    return;
  }
  if (phase === 'last') {
    await ledger.records.addPending(batch.id, source, rows.map((r) => String(r.pk)), batch.stageBatchId === undefined ? FIRST : LAST);
    return;
  }
  const { first } = await splitByStage(ledger, batch, source, rows);
  await ledger.records.addPending(batch.id, source, first, FIRST);
}

/**
 * A scoped stage batch stages only part of the library, but after the switch every row is served by
 * its in-place id: a row outside the scope whose value claims the same id as one inside (`a.png` left
 * out, `a.jpg` staged) would be served the other's picture. Every row of every configured source is
 * looked at, a page at a time, and those that claim one of the batch's ids are noted for the
 * collision check. A few ledger look-ups per page; memory stays a page.
 */
async function recordOutsideClaims(deps: RecordDeps, batch: Batch, sources: readonly Source[], pageSize: number): Promise<void> {
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
async function recordListed(deps: RecordDeps, batch: Batch, pageSize: number, phase: Phase, opts: RecordOptions): Promise<void> {
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
    await recordRows(deps.ledger, batch, source, pks.map((pk) => ({ pk, value: byPk.get(pk) })), phase);
    await opts.onPage?.();
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
      if (page.length >= pageSize) {
        opts.signal?.throwIfAborted();
        await flush(source);
      }
    }
  }
  for (const source of pages.keys()) await flush(source);
  // Said once, not once a pass.
  if (outside > 0 && (phase !== 'first' || batch.stageBatchId === undefined)) {
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
async function fingerprint(deps: RecordDeps, batch: Batch, mediaRoot: string): Promise<void> {
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

