import { stat } from 'node:fs/promises';
import type { Knex } from 'knex';
import type { Batch } from '../ledger/ledger.ts';
import type { MediaFingerprint } from '../ledger/ledger.ts';
import { resolveInside } from '../media/media-file.ts';
import { isRemoteUrl } from '../cloudinary/storage-convention.ts';
import { isTextSource } from '../config/sources.ts';

/**
 * A worker started on a machine where the media volume is not mounted would mark its whole share of
 * the library `missing`. Two guards stop it. At enqueue time the batch records a fingerprint of
 * MEDIA_ROOT — a handful of its files that exist, with their sizes — and every process that takes the
 * batch's jobs checks them first; one that cannot see them refuses the batch. And a process whose
 * last records in a row were all missing while other processes found theirs pauses itself.
 */

/** Files recorded per batch, and how many values are looked at to find them. */
const FINGERPRINT_FILES = 5;
const SAMPLE = 50;

/**
 * A few of the batch's files that exist under MEDIA_ROOT (path relative to it, size), from the first
 * values of its sources. Undefined when none of them is there: the caller warns, as MEDIA_ROOT then
 * probably points at the wrong folder.
 */
export async function takeFingerprint(db: Knex, batch: Batch, mediaRoot: string): Promise<MediaFingerprint | undefined> {
  const files: MediaFingerprint['files'] = [];
  // A text source's values are texts, not file names: its URLs are checked as its records run.
  for (const source of batch.sources.filter((s) => !isTextSource(s))) {
    const q = db(source.table).select(source.column).whereNotNull(source.column).whereNot(source.column, '').orderBy(source.pk).limit(SAMPLE);
    if (batch.scope.pkFrom !== undefined) q.where(source.pk, '>=', batch.scope.pkFrom);
    if (batch.scope.pkTo !== undefined) q.where(source.pk, '<=', batch.scope.pkTo);
    for (const row of (await q) as Record<string, unknown>[]) {
      const value = String(row[source.column]);
      if (isRemoteUrl(value) || files.some((f) => f.path === value)) continue;
      const size = await sizeOf(mediaRoot, value);
      if (size !== undefined) files.push({ path: value, size });
      if (files.length >= FINGERPRINT_FILES) return { files };
    }
  }
  return files.length > 0 ? { files } : undefined;
}

async function sizeOf(mediaRoot: string, value: string): Promise<number | undefined> {
  try {
    const path = await resolveInside(mediaRoot, value);
    if (!path) return undefined;
    const st = await stat(path);
    return st.isFile() && st.size > 0 ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/** The first fingerprint file this machine cannot see as recorded, or undefined when it sees them all. */
export async function firstUnseen(mediaRoot: string, fp: MediaFingerprint | undefined): Promise<{ path: string; size: number; found: number | undefined } | undefined> {
  for (const f of fp?.files ?? []) {
    const size = await sizeOf(mediaRoot, f.path);
    if (size !== f.size) return { ...f, found: size };
  }
  return undefined;
}

/** The one line a refusing process logs, and the dashboard shows: it names the batch, the setting and the file. */
export function refusalMessage(mediaRoot: string, batchId: number, unseen: { path: string; size: number; found: number | undefined }, from?: number): string {
  const what = unseen.found === undefined ? 'cannot see' : `sees ${unseen.found} bytes, not ${unseen.size}, in`;
  const fix = '(mount the media there, or set MEDIA_ROOT to where it is)';
  // The files of an earlier batch stand in when none of this one's was found where it was enqueued.
  if (from !== undefined && from !== batchId) {
    return `MEDIA_ROOT=${mediaRoot}: this machine ${what} ${unseen.path}, a file batch ${from} found in the media folder; it refuses batch ${batchId}'s jobs ${fix}`;
  }
  return `MEDIA_ROOT=${mediaRoot}: this machine ${what} ${unseen.path}, one of batch ${batchId}'s files; it refuses the batch's jobs ${fix}`;
}

/** How many `missing` in a row make a process doubt its own eyes. */
export const MISSING_STREAK = 50;

/**
 * The second guard: counts this process's `missing` outcomes in a row (any record found resets it)
 * and keeps their ids, so that when it pauses itself those records can be handed back.
 */
export class MissingStreak {
  private readonly ids: number[] = [];

  /** Returns the streak's record ids once it reaches the limit. */
  note(recordId: number, missing: boolean): number[] | undefined {
    if (!missing) {
      this.ids.length = 0;
      return undefined;
    }
    this.ids.push(recordId);
    return this.ids.length >= MISSING_STREAK ? [...this.ids] : undefined;
  }
}
