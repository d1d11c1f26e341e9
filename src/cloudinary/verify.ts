import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { RateLimitedError } from '../errors.ts';
import { isTextSource, type ResourceType } from '../config/sources.ts';
import { sourceType, type Batch, type Ledger, type LedgerRecord } from '../ledger/ledger.ts';
import { Outcome, Reason } from '../outcomes.ts';
import type { RemoteAsset, Uploader } from './uploader.ts';

export const Problem = {
  assetMissing: 'asset_missing',
  bytesMismatch: 'bytes_mismatch',
  etagMismatch: 'etag_mismatch',
  rowChanged: 'row_changed',
  // stage batches
  fileChanged: 'file_changed',
  notServed: 'not_served',
} as const;
export type Problem = (typeof Problem)[keyof typeof Problem];

export interface VerifyFinding {
  record: LedgerRecord;
  problem: Problem;
  detail: string;
}

export interface VerifyReport {
  batch: number;
  checked: number;
  ok: number;
  findings: VerifyFinding[];
  adminCalls: number;
}

const PAGE = 100; // the Admin API's limit per resources_by_ids call
const HEADS_IN_FLIGHT = 8;

/**
 * Checks every record a batch migrated: the asset exists with the ledger's size (Admin API, one call
 * per hundred assets, so a batch of 50,000 costs 500 of the hourly quota), it serves the ledger's MD5
 * (a HEAD on the delivery URL, which has no rate limit), and the row still points at it.
 */
export async function verifyBatch(
  deps: { db: Knex; ledger: Ledger; uploader: Uploader; logger: Logger },
  batch: Batch,
): Promise<VerifyReport> {
  const report: VerifyReport = { batch: batch.id, checked: 0, ok: 0, findings: [], adminCalls: 0 };
  const sources = new Map(batch.sources.map((s) => [`${s.table}.${s.column}`, s]));
  let after = 0;
  for (;;) {
    const all = await deps.ledger.records.list(batch.id, { outcome: Outcome.migrated, afterId: after, limit: PAGE });
    if (all.length === 0) break;
    after = all[all.length - 1]!.id;
    // Rolled-back rows no longer point at their asset by design; a dry run never uploaded.
    const live = all.filter((r) => !r.rolledBackAt && r.reason !== Reason.wouldMigrate);
    const isText = (r: LedgerRecord) => isTextSource(sources.get(`${r.table}.${r.column}`) ?? {});
    const textValues = await currentValues(deps.db, live.filter(isText), sources);
    for (const r of live.filter(isText)) {
      report.checked++;
      const found = await checkText(deps.uploader, r, textValues.get(r.id));
      if (found) report.findings.push({ record: r, ...found });
      else report.ok++;
    }
    const page = live.filter((r) => !isText(r));
    if (page.length === 0) continue;

    const key = (r: LedgerRecord) => assetKey(batch, r);
    const remote = new Map<string, RemoteAsset>();
    const etags = new Map<string, string | undefined>();
    report.adminCalls += await eachResourceType(batch, page, async (type, ids) => {
      for (const [id, a] of await lookupWithPatience(deps.uploader, ids, deps.logger, type)) remote.set(`${type}:${id}`, a);
      for (const [id, e] of await deliveredEtags(deps.uploader, ids, type)) etags.set(`${type}:${id}`, e);
    });
    const values = await currentValues(deps.db, page, sources);

    for (const r of page) {
      report.checked++;
      const found = checkRecord(r, remote.get(key(r)), etags.get(key(r)), values.get(r.id));
      if (found) report.findings.push({ record: r, ...found });
      else report.ok++;
    }
  }
  deps.logger.info({ batch: batch.id, checked: report.checked, problems: report.findings.length }, 'batch verified');
  return report;
}

function checkRecord(
  r: LedgerRecord,
  asset: RemoteAsset | undefined,
  etag: string | undefined,
  value: string | null | undefined,
): { problem: Problem; detail: string } | undefined {
  if (!asset) return { problem: Problem.assetMissing, detail: `no asset ${r.publicId} on Cloudinary` };
  if (r.bytes !== undefined && asset.bytes !== r.bytes) {
    return { problem: Problem.bytesMismatch, detail: `asset ${r.publicId} has ${asset.bytes} bytes, the ledger ${r.bytes}` };
  }
  if (etag !== r.etag) {
    return { problem: Problem.etagMismatch, detail: `asset ${r.publicId} serves etag ${etag ?? 'none'}, the ledger says ${r.etag}` };
  }
  if (value !== r.newValue) {
    return { problem: Problem.rowChanged, detail: `the row holds ${JSON.stringify(value ?? null)}, not ${r.newValue}` };
  }
  return undefined;
}

/**
 * A text record: the row still holds the text the batch wrote, and each reference it rewrote serves
 * the MD5 its file had (a HEAD on the delivery URL, no rate limit).
 */
async function checkText(uploader: Uploader, r: LedgerRecord, value: string | null | undefined): Promise<{ problem: Problem; detail: string } | undefined> {
  if (r.newValue !== undefined && value !== r.newValue) return { problem: Problem.rowChanged, detail: 'the row no longer holds the text the batch wrote' };
  const refs = (r.refs ? JSON.parse(r.refs) : []) as { name: string; state: string; url?: string; etag?: string }[];
  for (const ref of refs) {
    if (ref.state !== 'rewritten' || !ref.url) continue;
    const { status, etag } = await uploader.head(ref.url);
    if (status === 404) return { problem: Problem.assetMissing, detail: `${ref.url} (for "${ref.name}") answers 404` };
    if (ref.etag !== undefined && etag !== ref.etag) {
      return { problem: Problem.etagMismatch, detail: `${ref.url} (for "${ref.name}") serves etag ${etag ?? 'none'}, the file is ${ref.etag}` };
    }
  }
  return undefined;
}

/** A record's asset as `type:public_id`: each resource type is its own namespace of ids. */
export function assetKey(batch: Batch, r: LedgerRecord): string {
  return `${sourceType(batch, r)}:${r.publicId ?? ''}`;
}

/** Calls `work` once per resource type on the page, with that type's distinct ids; says how many calls. */
export async function eachResourceType(batch: Batch, page: readonly LedgerRecord[], work: (type: ResourceType, ids: string[]) => Promise<void>): Promise<number> {
  const types = new Set(page.map((r) => sourceType(batch, r)));
  for (const type of types) {
    await work(type, [...new Set(page.filter((r) => sourceType(batch, r) === type).map((r) => r.publicId!).filter(Boolean))]);
  }
  return types.size;
}

export async function lookupWithPatience(uploader: Uploader, ids: string[], logger: Logger, resourceType: ResourceType = 'image'): Promise<Map<string, RemoteAsset>> {
  for (;;) {
    try {
      return await uploader.lookup(ids, resourceType);
    } catch (err) {
      if (!(err instanceof RateLimitedError)) throw err;
      logger.warn({ waitMs: err.retryAfterMs }, 'Admin API rate limit reached; waiting');
      await sleep(err.retryAfterMs);
    }
  }
}

async function deliveredEtags(uploader: Uploader, ids: string[], resourceType: ResourceType): Promise<Map<string, string | undefined>> {
  const out = new Map<string, string | undefined>();
  let next = 0;
  const lane = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      out.set(id, await uploader.deliveredEtag(id, resourceType));
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEADS_IN_FLIGHT, ids.length) }, lane));
  return out;
}

/** The value each record's row holds now, read a table at a time. */
async function currentValues(
  db: Knex,
  records: LedgerRecord[],
  sources: Map<string, { table: string; column: string; pk: string }>,
): Promise<Map<number, string | null>> {
  const out = new Map<number, string | null>();
  const bySource = new Map<string, LedgerRecord[]>();
  for (const r of records) {
    const key = `${r.table}.${r.column}`;
    bySource.set(key, [...(bySource.get(key) ?? []), r]);
  }
  for (const [key, recs] of bySource) {
    const s = sources.get(key);
    if (!s) continue;
    const rows = (await db(s.table)
      .select(s.pk, s.column)
      .whereIn(
        s.pk,
        recs.map((r) => r.pk),
      )) as Record<string, unknown>[];
    const byPk = new Map(rows.map((row) => [String(row[s.pk]), row[s.column] == null ? null : String(row[s.column])]));
    for (const r of recs) out.set(r.id, byPk.has(r.pk) ? byPk.get(r.pk)! : null);
  }
  return out;
}
