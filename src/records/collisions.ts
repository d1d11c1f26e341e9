import { PermanentError } from '../errors.ts';
import type { Batch, InPlaceClaim, LedgerRecord } from '../ledger/ledger.ts';
import type { ResourceType } from '../config/sources.ts';
import { readMediaFile } from '../media/media-file.ts';
import { recordLabel, type RecordHelpers } from './record-steps.ts';

/**
 * Two values can share an in-place id: `a.jpg` and `a.png` side by side, or `shoe.jpg` beside
 * `media/shoe.jpg`. If they hold different bytes, whichever file sat at the id, the other row would be
 * served the wrong picture once the storage is switched, which is worse than a short 404: then neither
 * is staged. Rows sharing one file share one id and are no collision.
 *
 * The producer notes every record's value and in-place id when it scans the tables, so a record sees
 * from the start every other value that claims its id, and reads their files itself: each of two
 * colliding records reaches the same verdict on its own, whatever the order the workers take them in,
 * and neither uploads first only to be taken back. A scoped stage batch (a canary, say) also looks
 * through the rows outside its scope: `a.png` left out of it still forbids staging `a.jpg`.
 */

/**
 * The first other value claiming this id whose file does not hold exactly `md5` (or cannot be read:
 * a row whose file is missing would be served the other's picture too), or undefined.
 */
export async function findCollision(h: RecordHelpers, batch: Batch, me: LedgerRecord, value: string, publicId: string, md5: string): Promise<InPlaceClaim | undefined> {
  const group = await h.ledger.cutover.inPlaceGroup(batch.id, publicId);
  const seen = new Map<string, boolean>([[value, true]]);
  for (const other of group) {
    if (other.id === me.id || other.oldValue === undefined) continue;
    let same = seen.get(other.oldValue);
    if (same === undefined) {
      same = (await md5Of(h, other.oldValue)) === md5;
      seen.set(other.oldValue, same);
    }
    if (!same) return other;
  }
  return undefined;
}

async function md5Of(h: RecordHelpers, value: string): Promise<string | undefined> {
  try {
    // Only the bytes matter here: read as raw, whatever the column's type, so no content check refuses it.
    return (await readMediaFile(h.mediaRoot, value, { ...h.limits, keepInMemoryUpToBytes: 0 }, 'raw'))?.md5;
  } catch (err) {
    if (err instanceof PermanentError) return undefined;
    throw err;
  }
}

export function collisionDetail(publicId: string, other: InPlaceClaim): string {
  const outside = other.id === undefined ? ', outside this batch,' : '';
  return `${publicId} is also the in-place id of ${recordLabel(other)}${outside} ("${other.oldValue ?? ''}"), which holds other bytes; neither is staged`;
}

/**
 * Removes the asset at an in-place id when one of our stage uploads put exactly those bytes there and
 * no row has been rewritten to it; someone else's asset is never touched. A failure is thrown: the
 * job retries.
 */
export async function removeIfOurs(h: RecordHelpers, publicId: string, resourceType: ResourceType = 'image'): Promise<boolean> {
  const delivered = await h.uploader.deliveredEtag(publicId, resourceType);
  if (delivered === undefined || !(await h.ledger.cutover.placedByUs(publicId, delivered))) return false;
  if (await h.ledger.cutover.isRewrittenTo(publicId)) return false;
  const removed = await h.uploader.destroy(publicId, resourceType);
  if (removed) h.logger.info({ publicId }, 'removed a staged asset that must not serve its rows');
  return removed;
}
