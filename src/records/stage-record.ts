import { PermanentError, RetryableError } from '../errors.ts';
import type { MediaFile } from '../media/media-file.ts';
import { Outcome, Reason } from '../outcomes.ts';
import { openRecord, readFileOrFinish, type OpenRecord, type RecordHelpers, type RecordResult, type RecordTask } from './record-steps.ts';
import { collisionDetail, findCollision, removeIfOurs } from './collisions.ts';
import { inPlaceId, inPlaceProblem } from '../cloudinary/in-place-id.ts';
import { resourceTypeOf } from '../config/sources.ts';

/**
 * One record's story in a stage batch: the same checks as `migrate` (row, value, path, file), then
 * its file goes to its in-place id, where the switched storage class will look for the row's current
 * value, and no app row is written. It ends `staged` (the id holds exactly this file), `not_in_place`
 * with the reason, or missing / skipped / failed as in `migrate`. Safe to repeat, like every handler:
 * a second run meets the asset as `existing` and uploads nothing.
 */
export async function stageRecord(task: RecordTask, h: RecordHelpers): Promise<RecordResult> {
  const { batch } = task;
  const opened = await openRecord(task, h);
  if ('ended' in opened) return opened.ended;
  const { open } = opened;
  const { value, finish } = open;
  const type = resourceTypeOf(task.source);
  const publicId = inPlaceId(value, batch.prefix, type);
  // The id rides on every outcome from here, so a record whose file is missing still counts when
  // another value claims the same id.
  const read = await readFileOrFinish(task, h, open, { publicId });
  if ('ended' in read) return read.ended;
  const { file } = read;

  const problem = inPlaceProblem(value, batch.prefix, type);
  if (problem) {
    return finish({ outcome: Outcome.notInPlace, reason: problem.reason, detail: problem.detail, oldValue: value, publicId, etag: file.md5, bytes: file.size });
  }

  await h.group.noteAttempt(open.rec.id, { publicId, oldValue: value, etag: file.md5, bytes: file.size });
  const other = await findCollision(h, batch, open.rec, value, publicId, file.md5);
  if (other) {
    // An earlier stage may have placed one of them there before the other value existed.
    await removeIfOurs(h, publicId, type);
    return finish({ outcome: Outcome.notInPlace, reason: Reason.collision, detail: collisionDetail(publicId, other), oldValue: value, publicId, etag: file.md5, bytes: file.size });
  }

  const placed = await place(h, open, publicId, file);
  if ('ended' in placed) return placed.ended;
  return finish({
    outcome: Outcome.staged,
    reason: placed.reason,
    oldValue: value,
    publicId,
    etag: file.md5,
    bytes: file.size,
    reused: placed.reason === Reason.existing,
    uploadMs: placed.uploadMs,
  });
}

type Placed = { reason: Reason; uploadMs?: number } | { ended: RecordResult };

/**
 * Makes the id hold exactly this file. A look at its delivery URL first (no rate limit, no upload):
 * already this file → `existing`; nothing there → upload; other bytes that one of our stage batches
 * placed (the file changed on disk since) → replaced, so the switch never serves it stale; other
 * bytes of anyone else's → `occupied`, left alone.
 */
async function place(h: RecordHelpers, open: OpenRecord, publicId: string, file: MediaFile): Promise<Placed> {
  const { value, finish, rec } = open;
  const occupied = async (etag: string): Promise<Placed> => ({
    ended: await finish({
      outcome: Outcome.notInPlace,
      reason: Reason.occupied,
      oldValue: value,
      publicId,
      etag: file.md5,
      bytes: file.size,
      detail: `an asset ${publicId} already exists with other bytes (etag ${etag}); it is not ours to replace`,
    }),
  });
  const delivered = await h.uploader.deliveredEtag(publicId, file.resourceType);
  if (delivered === file.md5) return { reason: Reason.existing };
  const ours = delivered !== undefined && (await h.ledger.cutover.placedByUs(publicId, delivered));
  if (delivered !== undefined && !ours) {
    return occupied(delivered);
  }
  const started = performance.now();
  let asset;
  try {
    // No MEDIA_TAG: `deleteorphanedmedia` must not see a staged asset while rows hold file paths.
    asset = await h.uploader.upload({ file, publicId, tags: ['media-migrate'], replace: ours });
  } catch (err) {
    if (err instanceof PermanentError) {
      return { ended: await finish({ outcome: Outcome.failed, reason: err.reason, detail: err.message, oldValue: value, publicId }) };
    }
    throw err;
  }
  if (!asset.existing) await h.ledger.cutover.notePlaced(rec.id, asset.etag, asset.bytes);
  if (asset.etag === file.md5 && asset.bytes === file.size) {
    return { reason: asset.existing ? Reason.existing : ours ? Reason.replaced : Reason.uploaded, uploadMs: performance.now() - started };
  }
  if (asset.existing) {
    // Someone else's asset appeared at the id between our look and our upload.
    return occupied(asset.etag);
  }
  // Our own upload arrived damaged: remove it so the retry uploads afresh instead of meeting it.
  await h.uploader.destroy(publicId, file.resourceType);
  throw new RetryableError(Reason.etagMismatch, `uploaded bytes do not match the file (etag ${asset.etag} vs ${file.md5})`);
}
