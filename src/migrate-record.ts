import { posix } from 'node:path';
import type { Knex } from 'knex';
import { whereExactly } from './db.ts';
import type { Logger } from 'pino';
import { PermanentError, RetryableError } from './errors.ts';
import type { Batch, Finish, Ledger, LedgerRecord, RecordRef } from './ledger.ts';
import { readMediaFile, type MediaFile, type MediaLimits } from './media-file.ts';
import { Outcome, Reason } from './outcomes.ts';
import type { RecordJobResult } from './queue.ts';
import type { CheckedSource } from './sources.ts';
import { isRemoteUrl, isStoragePublicId, predictedUrlLength, publicIdFor } from './storage-convention.ts';
import type { UploadedAsset, Uploader } from './uploader.ts';

/** Everything the handler needs, passed in so a test can hand it real services with its own settings. */
export interface RecordHelpers {
  db: Knex;
  ledger: Ledger;
  uploader: Uploader;
  mediaRoot: string;
  limits: MediaLimits;
  cloudName: string;
  logger: Logger;
}

export interface RecordTask {
  batch: Batch;
  source: CheckedSource;
  ref: RecordRef;
}

export interface RecordResult extends RecordJobResult {
  detail?: string | undefined;
}

/** Human name of a record in messages: `shop_productimages.image[id=4711]`. */
export function recordLabel(ref: RecordRef, pkColumn = 'pk'): string {
  return `${ref.table}.${ref.column}[${pkColumn}=${ref.pk}]`;
}

const MAX_PUBLIC_ID = 255;
const OPEN: readonly string[] = [Outcome.pending, Outcome.failed];

/**
 * One record's story, top to bottom: read the row, check the value, check the file, upload, then write
 * the row and the ledger in one transaction. Every step is safe to repeat: a job may run again after
 * a crash, a stall or a Redis loss, and must then end where the first run would have.
 * Permanent problems end as `failed` here; transient ones are thrown for the queue to retry.
 */
export async function migrateRecord(task: RecordTask, h: RecordHelpers): Promise<RecordResult> {
  const { batch, source, ref } = task;
  const { record: rec, row } = await readRecord(h.ledger, ref, source);
  if (!OPEN.includes(rec.outcome)) {
    // A replay after the outcome was written (a stalled job, a re-added id): keep what was decided.
    return { outcome: rec.outcome as RecordResult['outcome'], reason: rec.reason ?? Reason.uploaded, publicId: rec.publicId };
  }
  if (rec.outcome === Outcome.failed) await h.ledger.reopen(rec.id);
  const finish = async (f: Finish): Promise<RecordResult> => {
    const wrote = await h.ledger.finish(h.db, rec.id, f);
    if (!wrote) return replayed(h.ledger, ref);
    return { outcome: f.outcome, reason: f.reason, publicId: f.publicId, detail: f.detail };
  };

  if (!row.exists) return finish({ outcome: Outcome.skipped, reason: Reason.rowDeleted, detail: 'the row no longer exists' });
  const value = row.value;
  if (value === undefined || value.trim() === '') {
    return finish({ outcome: Outcome.skipped, reason: Reason.empty, oldValue: value });
  }
  if (isRemoteUrl(value)) return finish({ outcome: Outcome.skipped, reason: Reason.remoteUrl, oldValue: value });
  // Only an extension-less value can be one we wrote (public_ids have none; URLs were handled above),
  // so the common case, a file name, costs no query here.
  if (posix.extname(value) === '' && (await h.ledger.holdsOurValue(ref, value))) {
    return finish({ outcome: Outcome.skipped, reason: Reason.alreadyMigrated, oldValue: value, newValue: value });
  }

  let file: MediaFile | undefined;
  try {
    file = await readMediaFile(h.mediaRoot, value, h.limits);
  } catch (err) {
    if (err instanceof PermanentError) {
      return finish({ outcome: Outcome.failed, reason: err.reason, detail: err.message, oldValue: value });
    }
    throw err;
  }
  if (!file) {
    if (isStoragePublicId(value, batch.prefix)) {
      return finish({ outcome: Outcome.skipped, reason: Reason.cloudinaryId, oldValue: value, detail: 'already a Cloudinary public_id' });
    }
    return finish({ outcome: Outcome.missing, reason: Reason.notFound, oldValue: value, detail: `no file at MEDIA_ROOT/${value}` });
  }

  const publicId = publicIdFor(file.name, file.md5, batch.prefix);
  const tooLong = checkLength(task, publicId, file.format, h.cloudName);
  if (tooLong) return finish({ outcome: Outcome.failed, reason: Reason.tooLong, detail: tooLong, oldValue: value, publicId });

  if (batch.dryRun) {
    return finish({
      outcome: Outcome.migrated,
      reason: Reason.wouldMigrate,
      oldValue: value,
      newValue: batch.store === 'public_id' ? publicId : undefined,
      publicId,
      etag: file.md5,
      bytes: file.size,
    });
  }

  await h.ledger.noteAttempt(rec.id, { publicId, oldValue: value });
  let asset: UploadedAsset;
  const uploadStarted = performance.now();
  try {
    asset = await h.uploader.upload({ file, publicId, tags: [batch.tag, 'media-migrate'] });
  } catch (err) {
    if (err instanceof PermanentError) {
      return finish({ outcome: Outcome.failed, reason: err.reason, detail: err.message, oldValue: value, publicId });
    }
    throw err;
  }
  h.logger.debug({ publicId, existing: asset.existing, bytes: asset.bytes }, 'uploaded');

  if (asset.etag !== file.md5 || asset.bytes !== file.size) {
    if (asset.existing) {
      return finish({
        outcome: Outcome.failed,
        reason: Reason.etagMismatch,
        oldValue: value,
        detail: `an asset ${publicId} already exists with other content (etag ${asset.etag}, ${asset.bytes} bytes; local ${file.md5}, ${file.size} bytes)`,
      });
    }
    // Our own upload arrived damaged: remove it so the retry uploads afresh instead of meeting it.
    await h.uploader.destroy(publicId);
    throw new RetryableError(Reason.etagMismatch, `uploaded bytes do not match the file (etag ${asset.etag} vs ${file.md5})`);
  }

  const newValue = batch.store === 'url' ? asset.secureUrl : asset.publicId;
  if (source.maxLength !== undefined && newValue.length > source.maxLength) {
    await discardUnwanted(h, publicId, rec.id);
    return finish({
      outcome: Outcome.failed,
      reason: Reason.tooLong,
      oldValue: value,
      detail: `the new value is ${newValue.length} characters; column ${source.column} holds ${source.maxLength}`,
    });
  }

  const uploadMs = performance.now() - uploadStarted;
  const result = await writeRowAndLedger(task, h, rec, value, newValue, asset, uploadMs);
  if (result.reason === Reason.changed) await discardUnwanted(h, publicId, rec.id);
  return result;
}

/**
 * The record's ledger row and its app row's current value, in one query. The producer inserted the
 * ledger row; a job re-added by hand (bull-board) may arrive without one, so it is created then.
 */
async function readRecord(ledger: Ledger, ref: RecordRef, source: CheckedSource) {
  const found = await ledger.getRecordWithRow(ref, source);
  if (found) return found;
  await ledger.addPending(ref.batchId, ref, [ref.pk]);
  const created = await ledger.getRecordWithRow(ref, source);
  if (!created) throw new Error(`ledger row for ${recordLabel(ref)} could not be created`);
  return created;
}

async function replayed(ledger: Ledger, ref: RecordRef): Promise<RecordResult> {
  const now = await ledger.getRecord(ref);
  return {
    outcome: (now?.outcome ?? Outcome.failed) as RecordResult['outcome'],
    reason: now?.reason ?? Reason.retriesExhausted,
    publicId: now?.publicId,
  };
}

function checkLength(task: RecordTask, publicId: string, format: string, cloudName: string): string | undefined {
  if (publicId.length > MAX_PUBLIC_ID) {
    return `public_id ${publicId} is ${publicId.length} characters; Cloudinary allows ${MAX_PUBLIC_ID}`;
  }
  const max = task.source.maxLength;
  if (max === undefined) return undefined;
  const len = task.batch.store === 'url' ? predictedUrlLength(publicId, format, cloudName) : publicId.length;
  if (len <= max) return undefined;
  return `the new value would be ${len} characters; column ${task.source.column} holds ${max} (value "${publicId}")`;
}

/**
 * The row changes only if it still holds the value we read, in the same transaction as its ledger
 * row. The ledger row is claimed first (an update that only succeeds while the record is open), which
 * also locks it: of two runs of one job, the second waits, then finds it decided and writes nothing.
 * An app write in between wins: the claim is turned into `skipped/changed`.
 */
async function writeRowAndLedger(
  task: RecordTask,
  h: RecordHelpers,
  rec: LedgerRecord,
  oldValue: string,
  newValue: string,
  asset: UploadedAsset,
  uploadMs: number,
): Promise<RecordResult> {
  const { source, ref } = task;
  const reason = asset.existing ? Reason.reused : Reason.uploaded;
  const common = { oldValue, publicId: asset.publicId, etag: asset.etag, bytes: asset.bytes, reused: asset.existing, uploadMs };
  return h.db.transaction(async (trx) => {
    const claimed = await h.ledger.finish(trx, rec.id, { ...common, outcome: Outcome.migrated, reason, newValue });
    if (!claimed) {
      const now = await h.ledger.getRecord(ref, trx);
      return {
        outcome: (now?.outcome ?? Outcome.failed) as RecordResult['outcome'],
        reason: now?.reason ?? Reason.retriesExhausted,
        publicId: now?.publicId,
      };
    }
    const changed = await whereExactly(trx, trx(source.table).where(source.pk, ref.pk), source.column, oldValue).update({
      [source.column]: newValue,
    });
    if (changed > 0) return { outcome: Outcome.migrated, reason, publicId: asset.publicId };
    await h.ledger.finish(
      trx,
      rec.id,
      {
        ...common,
        outcome: Outcome.skipped,
        reason: Reason.changed,
        newValue: null,
        detail: 'the row changed while its file was uploading; left as the app wrote it',
      },
      { evenIfDecided: true },
    );
    return { outcome: Outcome.skipped, reason: Reason.changed, publicId: asset.publicId };
  });
}

/** Deletes an asset we uploaded only if no row points at it and no other record is working towards it. */
async function discardUnwanted(h: RecordHelpers, publicId: string, recordId: number): Promise<void> {
  if (await h.ledger.isPublicIdWanted(publicId, recordId)) return;
  try {
    await h.uploader.destroy(publicId);
    h.logger.info({ publicId }, 'removed an asset no row points at');
  } catch (err) {
    // Not fatal for the record: `verify` reports assets no row points at.
    h.logger.warn({ publicId, err }, 'could not remove an unused asset');
  }
}
