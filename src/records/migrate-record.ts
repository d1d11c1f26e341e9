import { PermanentError, RetryableError } from '../errors.ts';
import { inPlaceId } from '../cloudinary/in-place-id.ts';
import type { LedgerRecord } from '../ledger/ledger.ts';
import type { MediaFile } from '../media/media-file.ts';
import { Outcome, Reason } from '../outcomes.ts';
import { discardUnwanted, openRecord, readFileOrFinish, resultOf, type OpenRecord, type RecordHelpers, type RecordResult, type RecordTask } from './record-steps.ts';
import { predictedUrlLength, publicIdFor } from '../cloudinary/storage-convention.ts';
import { whilePlacing } from './text-assets.ts';
import type { UploadedAsset } from '../cloudinary/uploader.ts';
import { resourceTypeOf, type ResourceType } from '../config/sources.ts';

export { recordLabel, type RecordHelpers, type RecordResult, type RecordTask } from './record-steps.ts';

const MAX_PUBLIC_ID = 255;

/**
 * One record's story in a migrate batch, top to bottom: read the row, check the value, check the
 * file; if a stage batch placed exactly this file at the row's in-place id, write that id (no
 * upload); else upload; then write the row and the ledger in one transaction. Every step is safe to
 * repeat. Permanent problems end as `failed` here; transient ones are thrown for the queue to retry.
 */
export async function migrateRecord(task: RecordTask, h: RecordHelpers): Promise<RecordResult> {
  const { batch } = task;
  const opened = await openRecord(task, h);
  if ('ended' in opened) return opened.ended;
  const { open } = opened;
  const { value, finish } = open;

  const read = await readFileOrFinish(task, h, open);
  if ('ended' in read) return read.ended;
  const { file } = read;

  const staged = await stagedAsset(task, h, open, file);
  if (staged) return rewriteInPlace(task, h, open, file, staged);

  const type = file.resourceType;
  const publicId = publicIdFor(file.name, file.md5, batch.prefix, type);
  const tooLong = checkLength(task, publicId, file.format, h.cloudName, type);
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

  // A text record of this process naming the same file waits for this one instead of sending it again.
  return whilePlacing(type, publicId, file.md5, uploadAndWrite(task, h, open, file, publicId));
}

/** Notes the attempt, uploads the file and checks the answer, then writes the row and the ledger. */
async function uploadAndWrite(task: RecordTask, h: RecordHelpers, open: OpenRecord, file: MediaFile, publicId: string): Promise<RecordResult> {
  const { value, finish, rec } = open;
  const type = file.resourceType;
  const { batch } = task;
  await h.group.noteAttempt(rec.id, { publicId, oldValue: value });
  let asset: UploadedAsset;
  const uploadStarted = performance.now();
  try {
    // MEDIA_TAG comes only once the row holds the id: until then `deleteorphanedmedia` would take
    // the asset for an orphan and delete it.
    asset = await h.uploader.upload({ file, publicId, tags: ['media-migrate'] });
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
    await h.uploader.destroy(publicId, type);
    throw new RetryableError(Reason.etagMismatch, `uploaded bytes do not match the file (etag ${asset.etag} vs ${file.md5})`);
  }

  const newValue = batch.store === 'url' ? asset.secureUrl : asset.publicId;
  if (task.source.maxLength !== undefined && newValue.length > task.source.maxLength) {
    await discardUnwanted(h, publicId, rec.id, type);
    return finish({
      outcome: Outcome.failed,
      reason: Reason.tooLong,
      oldValue: value,
      detail: `the new value is ${newValue.length} characters; column ${task.source.column} holds ${task.source.maxLength}`,
    });
  }

  const uploadMs = performance.now() - uploadStarted;
  const reason = asset.existing ? Reason.reused : Reason.uploaded;
  const result = await writeRowAndLedger(task, h, rec, { oldValue: value, newValue, asset, reason, uploadMs });
  if (result.reason === Reason.changed) await discardUnwanted(h, publicId, rec.id, type);
  return result;
}

/**
 * The asset the batch's stage batch placed for this row, if it still serves exactly this file: the
 * stage saw the same value, its MD5 is the file's now, and the delivery URL answers that MD5. Any
 * doubt means an ordinary upload, never a row pointing at other bytes.
 */
async function stagedAsset(task: RecordTask, h: RecordHelpers, open: OpenRecord, file: MediaFile): Promise<LedgerRecord | undefined> {
  const { batch, ref } = task;
  // A URL in the row is not what the storage class holds; a dry run only says what would happen.
  if (batch.stageBatchId === undefined || batch.store !== 'public_id') return undefined;
  const staged = await h.ledger.cutover.stagedRecord(batch.stageBatchId, ref);
  if (!staged || staged.oldValue !== open.value || staged.publicId !== inPlaceId(open.value, batch.prefix, resourceTypeOf(task.source))) return undefined;
  if (staged.etag !== file.md5) {
    h.logger.info({ publicId: staged.publicId }, 'the file changed since it was staged; uploading it afresh');
    return undefined;
  }
  if (batch.dryRun) return staged;
  const delivered = await h.uploader.deliveredEtag(staged.publicId, file.resourceType);
  if (delivered !== file.md5) {
    h.logger.warn({ publicId: staged.publicId, delivered: delivered ?? null }, 'the staged asset no longer serves this file; uploading it afresh');
    return undefined;
  }
  return staged;
}

/** Writes the staged asset's id into the row: exactly what the storage class would hold for it. */
async function rewriteInPlace(task: RecordTask, h: RecordHelpers, open: OpenRecord, file: MediaFile, staged: LedgerRecord): Promise<RecordResult> {
  const { batch, source } = task;
  const publicId = staged.publicId!;
  if (source.maxLength !== undefined && publicId.length > source.maxLength) {
    return open.finish({
      outcome: Outcome.failed,
      reason: Reason.tooLong,
      oldValue: open.value,
      publicId,
      detail: `the in-place id ${publicId} is ${publicId.length} characters; column ${source.column} holds ${source.maxLength} (the old value keeps being served by it)`,
    });
  }
  if (batch.dryRun) {
    return open.finish({
      outcome: Outcome.migrated,
      reason: Reason.wouldMigrate,
      oldValue: open.value,
      newValue: publicId,
      publicId,
      etag: file.md5,
      bytes: file.size,
      detail: `in place: staged by batch ${staged.batchId}`,
    });
  }
  const asset = { publicId, etag: file.md5, bytes: file.size, existing: true };
  return writeRowAndLedger(task, h, open.rec, { oldValue: open.value, newValue: publicId, asset, reason: Reason.inPlace });
}

function checkLength(task: RecordTask, publicId: string, format: string, cloudName: string, type: ResourceType): string | undefined {
  if (publicId.length > MAX_PUBLIC_ID) {
    return `public_id ${publicId} is ${publicId.length} characters; Cloudinary allows ${MAX_PUBLIC_ID}`;
  }
  const max = task.source.maxLength;
  if (max === undefined) return undefined;
  const len = task.batch.store === 'url' ? predictedUrlLength(publicId, format, cloudName, undefined, type) : publicId.length;
  if (len <= max) return undefined;
  return `the new value would be ${len} characters; column ${task.source.column} holds ${max} (value "${publicId}")`;
}

interface RowWrite {
  oldValue: string;
  newValue: string;
  asset: Pick<UploadedAsset, 'publicId' | 'etag' | 'bytes' | 'existing'>;
  reason: Reason;
  uploadMs?: number;
}

/**
 * The row changes only if it still holds the value we read, in the same transaction as its ledger
 * row. The ledger row is claimed first (an update that only succeeds while the record is open), which
 * also locks it: of two runs of one job, the second waits, then finds it decided and writes nothing.
 * An app write in between wins: the claim is turned into `skipped/changed`. Once the row holds the
 * id, the asset gets MEDIA_TAG (rows written as URLs never do: `deleteorphanedmedia` compares ids).
 */
async function writeRowAndLedger(task: RecordTask, h: RecordHelpers, rec: LedgerRecord, w: RowWrite): Promise<RecordResult> {
  const { source, ref, batch } = task;
  const tagged = batch.store === 'public_id' ? false : undefined;
  const common = {
    oldValue: w.oldValue,
    publicId: w.asset.publicId,
    etag: w.asset.etag,
    bytes: w.asset.bytes,
    reused: w.asset.existing,
    uploadMs: w.uploadMs,
  };
  const written = await h.group.writeRow({
    id: rec.id,
    source,
    pk: ref.pk,
    oldValue: w.oldValue,
    newValue: w.newValue,
    // The spreads go last (no key is in both): Node 20's V8 reshapes an object for each property
    // written after a spread, ~1.5 µs apiece, for every record.
    migrated: { outcome: Outcome.migrated, reason: w.reason, newValue: w.newValue, tagged, ...common },
    changed: {
      outcome: Outcome.skipped,
      reason: Reason.changed,
      newValue: null,
      tagged: null,
      detail: 'the row changed while its file was uploading; left as the app wrote it',
      ...common,
    },
  });
  const result: RecordResult =
    written === 'decided'
      ? resultOf(await h.ledger.records.get(ref))
      : written === 'migrated'
        ? { outcome: Outcome.migrated, reason: w.reason, publicId: w.asset.publicId }
        : { outcome: Outcome.skipped, reason: Reason.changed, publicId: w.asset.publicId };
  if (result.outcome === Outcome.migrated && tagged === false) {
    h.tagger?.add(rec.id, w.asset.publicId, batch.tag, resourceTypeOf(source));
  }
  return result;
}
