import type { Knex } from 'knex';
import { isRemoteUrl, isStoragePublicId } from '../cloudinary/storage-convention.ts';
import { isTextSource, resourceTypeOf, type CheckedSource } from '../config/sources.ts';
import { scanRows } from '../db/scan-rows.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { normaliseName } from '../media/media-file.ts';
import { NameSet } from '../media/name-set.ts';
import { findReferences } from '../text/references.ts';
import { fileKey, FilesOnDisk, filesUnder } from './files-on-disk.ts';

/**
 * "Can the old disk go?" Reads every configured source and MEDIA_ROOT, writes nothing, and counts what
 * still needs MEDIA_ROOT to be served: a file column's value that is still a path (unless a stage batch
 * placed that very file where the switched storage looks for it), and every URL under MEDIA_URL /
 * MEDIA_ORIGINS inside a text column. Then the files under MEDIA_ROOT nothing references any more.
 * Streamed a page of rows at a time, the names on disk and the referenced ones kept as hashes: bounded
 * memory at any size.
 */

export interface LocalReference {
  table: string;
  column: string;
  pk: string;
  /** The file's name under MEDIA_ROOT (for a text reference, as its URL names it, decoded). */
  name: string;
  missing: boolean;
}

export interface SourceAudit {
  table: string;
  column: string;
  kind: 'file' | 'text';
  rows: number;
  localReferences: number;
  missingFiles: number;
}

export interface AuditReport {
  localReferences: number;
  missingFiles: number;
  unreferencedFiles: number;
  unreferencedBytes: number;
  sources: SourceAudit[];
}

export interface AuditDeps {
  db: Knex;
  ledger: Ledger;
  mediaRoot: string;
  prefix: string;
  references: { mediaUrl: string; mediaOrigins: string[] };
  /** Each local reference as it is found (for --list), and each unreferenced file. */
  onReference?: (r: LocalReference) => void;
  onUnreferenced?: (f: { path: string; bytes: number }) => void;
}

const PAGE = 1_000;

export async function audit(deps: AuditDeps, sources: readonly CheckedSource[]): Promise<AuditReport> {
  const referenced = new NameSet();
  const onDisk = await FilesOnDisk.read(deps.mediaRoot);
  const report: AuditReport = { localReferences: 0, missingFiles: 0, unreferencedFiles: 0, unreferencedBytes: 0, sources: [] };
  const stage = await deps.ledger.batches.latestStage(deps.prefix);
  for (const source of sources) {
    const s: SourceAudit = { table: source.table, column: source.column, kind: isTextSource(source) ? 'text' : 'file', rows: 0, localReferences: 0, missingFiles: 0 };
    report.sources.push(s);
    for await (const page of scanRows(deps.db, source, PAGE, true)) {
      s.rows += page.length;
      const found = isTextSource(source) ? textReferences(source, page, deps) : await fileReferences(deps, source, page, stage?.id);
      for (const ref of found) {
        const key = ref.unsafe ? undefined : fileKey(ref.name);
        if (key !== undefined) referenced.add(key);
        const there = key !== undefined && (await onDisk.has(key));
        s.localReferences++;
        if (!there) s.missingFiles++;
        deps.onReference?.({ table: source.table, column: source.column, pk: ref.pk, name: ref.name, missing: !there });
      }
    }
    report.localReferences += s.localReferences;
    report.missingFiles += s.missingFiles;
  }
  for await (const file of filesUnder(deps.mediaRoot)) {
    if (referenced.has(file.path)) continue;
    report.unreferencedFiles++;
    report.unreferencedBytes += file.bytes;
    deps.onUnreferenced?.(file);
  }
  return report;
}

interface Found {
  pk: string;
  name: string;
  unsafe?: boolean;
}

/** A file column's values that are still paths: not empty, not a URL, not a public_id, not served in place. */
async function fileReferences(deps: AuditDeps, source: CheckedSource, page: { pk: unknown; value: string | undefined }[], stageBatchId: number | undefined): Promise<Found[]> {
  const type = resourceTypeOf(source);
  const paths = page.filter((r) => {
    const v = r.value?.trim();
    if (!v || isRemoteUrl(v)) return false;
    // What the storage class holds: PREFIX first, no extension (a raw public_id keeps its own).
    return !isStoragePublicId(v, deps.prefix, type);
  });
  if (paths.length === 0) return [];
  const staged = stageBatchId === undefined ? new Map<string, string>() : await deps.ledger.cutover.stagedValues(stageBatchId, source, paths.map((r) => String(r.pk)));
  return paths.filter((r) => staged.get(String(r.pk)) !== r.value).map((r) => ({ pk: String(r.pk), name: normaliseName(r.value!) }));
}

function textReferences(source: CheckedSource, page: { pk: unknown; value: string | undefined }[], deps: AuditDeps): Found[] {
  const settings = source.references ?? deps.references;
  const out: Found[] = [];
  for (const r of page) {
    if (!r.value) continue;
    for (const ref of findReferences(r.value, settings)) {
      out.push(ref.unsafe ? { pk: String(r.pk), name: ref.written, unsafe: true } : { pk: String(r.pk), name: ref.name });
    }
  }
  return out;
}
