import type { Knex } from 'knex';
import { PermanentError } from '../errors.ts';
import type { BatchSpec, Ledger } from '../ledger/ledger.ts';
import { isUnderMediaRoot, resolveInside } from '../media/media-file.ts';
import { isRemoteUrl, isStoragePublicId, mayBeOurValue } from '../cloudinary/storage-convention.ts';
import { readRecordList } from '../config/record-list.ts';
import { scanRows } from '../db/scan-rows.ts';
import { isTextSource, resourceTypeOf, type CheckedSource } from '../config/sources.ts';
import { findReferences, referencedNames } from '../text/references.ts';

/**
 * Before a batch is recorded: is MEDIA_ROOT the folder its files are in? A MEDIA_ROOT that exists but
 * is the wrong folder (a sibling, the static root, an unmounted mount point) makes every record
 * `missing`, and a batch of 300 missing files looked like success. So the first values the batch
 * names — 20 of them, non-empty, not URLs, not values a storage or an earlier batch wrote, not files
 * an earlier batch already found missing — are looked for; when none of them is there the batch is
 * refused. One file found is enough to go on:
 * a library with some lost files is normal, and their records end `missing` as they should.
 *
 * The workers' own guard (media-guard.ts) is different: it checks that the machine taking the jobs
 * sees the files the producer saw.
 */

/** Values looked for; the first one found ends the look. */
export const MEDIA_SAMPLE = 20;
/** Rows read per source at most while looking for values (a column mostly empty is not read to its end). */
const ROWS_PER_SOURCE = 2_000;
const PAGE = 200;

export interface MediaSample {
  /** Values looked for under MEDIA_ROOT and not found, in the batch's order. */
  missing: string[];
  /** Whether one of them was found (the look stops there). */
  found: boolean;
}

type Row = { source: CheckedSource; pk: string; value: string | undefined };

/** Looks for the first files the batch would read, until one is found or MEDIA_SAMPLE are missing. */
export async function sampleMediaRoot(db: Knex, ledger: Ledger, spec: BatchSpec, mediaRoot: string): Promise<MediaSample> {
  const missing: string[] = [];
  for await (const row of firstRows(db, spec)) {
    const value = row.value?.trim();
    if (!value) continue;
    if (isTextSource(row.source)) {
      // A text names its files by URL: those are the files to look for.
      for (const name of referencedNames(findReferences(value, row.source.references ?? { mediaUrl: '/media/', mediaOrigins: [] }))) {
        if (await isUnderMediaRoot(mediaRoot, name)) return { missing, found: true };
        missing.push(name);
        if (missing.length >= MEDIA_SAMPLE) return { missing, found: false };
      }
      continue;
    }
    const type = resourceTypeOf(row.source);
    if (isRemoteUrl(value) || isStoragePublicId(value, spec.prefix, type)) continue;
    // An extension-less value (a raw one: prefixed) may be an id an earlier batch wrote: a re-run is not a wrong MEDIA_ROOT.
    if (mayBeOurValue(value, spec.prefix, type) && (await ledger.records.holdsOurValue({ table: row.source.table, column: row.source.column, pk: row.pk }, value))) continue;
    let path: string | undefined;
    try {
      path = await resolveInside(mediaRoot, row.value!);
    } catch (err) {
      if (err instanceof PermanentError) continue; // an unsafe path says nothing about MEDIA_ROOT
      throw err;
    }
    if (path) return { missing, found: true };
    if (await ledger.records.knownMissing({ table: row.source.table, column: row.source.column, pk: row.pk }, row.value!)) continue;
    missing.push(row.value!);
    if (missing.length >= MEDIA_SAMPLE) break;
  }
  return { missing, found: false };
}

/** The one line that refuses the batch, or undefined when MEDIA_ROOT holds its files (or it names none). */
export function wrongMediaRoot(mediaRoot: string, sample: MediaSample): string | undefined {
  if (sample.found || sample.missing.length === 0) return undefined;
  const [a, b] = sample.missing;
  const examples = b === undefined ? a : `${a}, ${b}${sample.missing.length > 2 ? ', …' : ''}`;
  const n = sample.missing.length;
  return (
    `MEDIA_ROOT=${mediaRoot}: none of the first ${n} file${n === 1 ? '' : 's'} the batch names is there (looked for ${examples}); ` +
    'is it the folder Django saved uploads in? Nothing was recorded. If the library really lost these files, run again with --allow-missing'
  );
}

/** The batch's first rows in its own order: the sources in turn, each by primary key, within its scope. */
async function* firstRows(db: Knex, spec: BatchSpec): AsyncGenerator<Row> {
  const scope = spec.scope ?? {};
  if (scope.from) {
    yield* listedRows(db, spec.sources, scope.from.file);
    return;
  }
  let room = scope.limit ?? Infinity;
  for (const source of spec.sources) {
    let read = 0;
    for await (const page of scanRows(db, source, PAGE, true, scope)) {
      for (const r of page) {
        if (room-- <= 0) return;
        yield { source, pk: String(r.pk), value: r.value };
      }
      read += page.length;
      if (read >= ROWS_PER_SOURCE) break;
    }
  }
}

/** The rows a `--from` file lists, in its order, for the sources they belong to. */
async function* listedRows(db: Knex, sources: readonly CheckedSource[], file: string): AsyncGenerator<Row> {
  let read = 0;
  for await (const listed of readRecordList(file)) {
    if (read++ >= ROWS_PER_SOURCE) return;
    for (const source of sources) {
      if (source.table !== listed.table || (listed.column !== undefined && source.column !== listed.column)) continue;
      const row = (await db(source.table).where(source.pk, listed.pk).first(source.column)) as Record<string, unknown> | undefined;
      const value = row?.[source.column];
      yield { source, pk: listed.pk, value: value == null ? undefined : String(value) };
    }
  }
}
