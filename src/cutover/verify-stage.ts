import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { sourceType, type Batch, type Ledger, type LedgerRecord } from '../ledger/ledger.ts';
import { readMediaFile, type MediaLimits } from '../media/media-file.ts';
import { Outcome } from '../outcomes.ts';
import { scanRows } from '../db/scan-rows.ts';
import { isRemoteUrl } from '../cloudinary/storage-convention.ts';
import type { RemoteAsset, Uploader } from '../cloudinary/uploader.ts';
import { Problem, assetKey, eachResourceType, lookupWithPatience, type VerifyFinding, type VerifyReport } from '../cloudinary/verify.ts';
import { deliveryExtension, inPlaceId } from '../cloudinary/in-place-id.ts';

const PAGE = 100; // the Admin API's limit per resources_by_ids call
const HEADS_IN_FLIGHT = 8;

/** Cloudinary's one spelling of each format a URL may ask for. */
const SAME_FORMAT: Record<string, string> = { jpeg: 'jpg', jpe: 'jpg', tif: 'tiff' };

export interface StageVerifyReport extends VerifyReport {
  /** Rows with a file path that this batch did not stage as they are now (added or changed since). */
  notCovered: number;
}

/**
 * Proves that switching the storage now serves every row the batch staged: the asset exists with the
 * file's size (Admin API, one call per hundred), the URL MediaCloudinaryStorage builds for the row's
 * current value answers (a HEAD on the CDN, which has no rate limit) with the file's MD5 when no
 * format conversion is asked, the row still holds the value that maps to the asset, and the file on
 * disk still has the bytes that were staged. Rows added or changed since are counted, not judged:
 * running `stage` again places them.
 */
export async function verifyStage(
  deps: { db: Knex; ledger: Ledger; uploader: Uploader; logger: Logger; mediaRoot: string; limits: MediaLimits },
  batch: Batch,
): Promise<StageVerifyReport> {
  const report: StageVerifyReport = { batch: batch.id, checked: 0, ok: 0, findings: [], adminCalls: 0, notCovered: 0 };
  const sources = new Map(batch.sources.map((s) => [`${s.table}.${s.column}`, s]));
  let after = 0;
  for (;;) {
    const page = await deps.ledger.records.list(batch.id, { outcome: Outcome.staged, afterId: after, limit: PAGE });
    if (page.length === 0) break;
    after = page[page.length - 1]!.id;
    const remote = new Map<string, RemoteAsset>();
    report.adminCalls += await eachResourceType(batch, page, async (type, ids) => {
      for (const [id, a] of await lookupWithPatience(deps.uploader, ids, deps.logger, type)) remote.set(`${type}:${id}`, a);
    });
    const values = await currentValues(deps.db, page, sources);
    const heads = await inLanes(page, async (r) => {
      const value = values.get(r.id);
      return value ? deps.uploader.head(deps.uploader.storageUrl(value, batch.prefix, sourceType(batch, r))) : undefined;
    });
    for (const r of page) {
      report.checked++;
      const asset = remote.get(assetKey(batch, r));
      const found = await checkStaged(deps, batch, r, asset?.bytes, asset?.format, values.get(r.id), heads.get(r.id));
      if (found) report.findings.push({ record: r, ...found });
      else report.ok++;
    }
  }
  report.notCovered = await countNotCovered(deps.db, deps.ledger, batch);
  deps.logger.info({ batch: batch.id, checked: report.checked, problems: report.findings.length, notCovered: report.notCovered }, 'stage batch verified');
  return report;
}

async function checkStaged(
  deps: { mediaRoot: string; limits: MediaLimits },
  batch: Batch,
  r: LedgerRecord,
  bytes: number | undefined,
  format: string | undefined,
  value: string | undefined,
  head: { status: number; etag: string | undefined } | undefined,
): Promise<Omit<VerifyFinding, 'record'> | undefined> {
  if (bytes === undefined) return { problem: Problem.assetMissing, detail: `no asset ${r.publicId} on Cloudinary` };
  if (r.bytes !== undefined && bytes !== r.bytes) {
    return { problem: Problem.bytesMismatch, detail: `asset ${r.publicId} has ${bytes} bytes, the staged file ${r.bytes}` };
  }
  const type = sourceType(batch, r);
  if (value === undefined || inPlaceId(value, batch.prefix, type) !== r.publicId) {
    return { problem: Problem.rowChanged, detail: `the row holds ${JSON.stringify(value ?? null)}, which ${r.publicId} does not serve` };
  }
  if (!head || head.status < 200 || head.status >= 300) {
    return { problem: Problem.notServed, detail: `the storage's URL for "${value}" answers ${head?.status ?? 'nothing'}` };
  }
  // A raw URL serves the file as it is; an image's or video's extension may ask for a conversion.
  const asked = type === 'raw' ? undefined : deliveryExtension(value)?.toLowerCase();
  const sameFormat = asked === undefined || (SAME_FORMAT[asked] ?? asked) === format;
  if (sameFormat && head.etag !== r.etag) {
    return { problem: Problem.etagMismatch, detail: `the storage's URL for "${value}" serves etag ${head.etag ?? 'none'}, the staged file is ${r.etag}` };
  }
  let file;
  try {
    file = await readMediaFile(deps.mediaRoot, value, deps.limits, type);
  } catch (err) {
    return { problem: Problem.fileChanged, detail: `MEDIA_ROOT/${value}: ${(err as Error).message}` };
  }
  if (!file) return { problem: Problem.fileChanged, detail: `MEDIA_ROOT/${value} is gone` };
  if (file.md5 !== r.etag) {
    return { problem: Problem.fileChanged, detail: `MEDIA_ROOT/${value} changed since it was staged (MD5 ${file.md5}, staged ${r.etag}): run stage again` };
  }
  return undefined;
}

async function inLanes<T>(records: LedgerRecord[], work: (r: LedgerRecord) => Promise<T>): Promise<Map<number, T>> {
  const out = new Map<number, T>();
  let next = 0;
  const lane = async () => {
    while (next < records.length) {
      const r = records[next++]!;
      out.set(r.id, await work(r));
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEADS_IN_FLIGHT, records.length) }, lane));
  return out;
}

async function currentValues(db: Knex, records: LedgerRecord[], sources: Map<string, { table: string; column: string; pk: string }>) {
  const out = new Map<number, string | undefined>();
  for (const r of records) {
    const s = sources.get(`${r.table}.${r.column}`);
    if (!s) continue;
    const row = (await db(s.table).where(s.pk, r.pk).first(s.column)) as Record<string, unknown> | undefined;
    const v = row?.[s.column];
    out.set(r.id, v == null ? undefined : String(v));
  }
  return out;
}

/** Rows holding a file path that the batch has no staged record of with that same value. */
async function countNotCovered(db: Knex, ledger: Ledger, batch: Batch): Promise<number> {
  let n = 0;
  for (const source of batch.sources) {
    for await (const page of scanRows(db, source, 1_000, true)) {
      const staged = await ledger.cutover.stagedValues(batch.id, source, page.map((r) => String(r.pk)));
      for (const r of page) {
        if (r.value === undefined || r.value.trim() === '' || isRemoteUrl(r.value)) continue;
        if (staged.get(String(r.pk)) !== r.value && !(await isDecided(ledger, batch, source, String(r.pk), r.value))) n++;
      }
    }
  }
  return n;
}

/** A row the batch saw with this value and could not stage (missing, not in place...) is covered too. */
async function isDecided(ledger: Ledger, batch: Batch, source: { table: string; column: string }, pk: string, value: string): Promise<boolean> {
  const r = await ledger.records.get({ batchId: batch.id, table: source.table, column: source.column, pk });
  return r !== undefined && r.outcome !== Outcome.pending && r.oldValue === value;
}
