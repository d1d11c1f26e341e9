import type { Batch } from '../ledger/ledger.ts';
import type { ResourceType } from '../config/sources.ts';
import { publicIdFor } from '../cloudinary/storage-convention.ts';
import { PermanentError, RetryableError } from '../errors.ts';
import type { MediaFile } from '../media/media-file.ts';
import { Reason } from '../outcomes.ts';
import type { RecordHelpers } from './record-steps.ts';

/** The asset a text reference is rewritten to. */
export interface ReferencedAsset {
  resourceType: ResourceType;
  publicId: string;
  /** The https delivery URL: what the reference becomes. */
  url: string;
  /** False when the asset was already there (placed by another row, column or batch): nothing was sent. */
  uploaded: boolean;
}

/** Uploads of the same asset this process is making right now: the second row waits for the first. */
const inFlight = new Map<string, Promise<ReferencedAsset>>();

/** File-column records of this process placing an asset right now, each until it has ended. */
const placing = new Map<string, Promise<void>>();

const assetKey = (type: ResourceType, publicId: string, md5: string) => `${type}:${publicId}:${md5}`;

/**
 * Notes that a file column's record is placing this asset until `work` settles, and returns `work`.
 * A text record naming the same file meanwhile waits for that record to end, then finds the asset in
 * the ledger (where only a finished, migrated record counts) instead of sending the file again: a
 * record's files go up side by side, so its look-ups all come before its uploads wait for a slot.
 */
export function whilePlacing<T>(type: ResourceType, publicId: string, md5: string, work: Promise<T>): Promise<T> {
  const key = assetKey(type, publicId, md5);
  const ended = work.then(
    () => undefined,
    () => undefined,
  );
  placing.set(key, ended);
  void ended.then(() => {
    if (placing.get(key) === ended) placing.delete(key);
  });
  return work;
}

/**
 * The asset for a file a text references: the same public_id a file column would give it (so a file
 * an image column also holds is the same asset), uploaded once however many rows and columns name it.
 * The ledger knows the assets already placed; an upload onto an existing id (overwrite: false) only
 * answers with it. Its bytes are checked (MD5 = etag) before any row may point at it.
 */
export function assetFor(h: RecordHelpers, batch: Batch, file: MediaFile): Promise<ReferencedAsset> {
  const type = file.resourceType;
  const publicId = publicIdFor(file.name, file.md5, batch.prefix, type);
  const key = assetKey(type, publicId, file.md5);
  let p = inFlight.get(key);
  if (!p) {
    p = obtain(h, batch, file, publicId, key).finally(() => inFlight.delete(key));
    inFlight.set(key, p);
  }
  return p;
}

async function obtain(h: RecordHelpers, batch: Batch, file: MediaFile, publicId: string, key: string): Promise<ReferencedAsset> {
  const type = file.resourceType;
  if (publicId.length > 255) {
    throw new PermanentError(Reason.tooLong, `public_id ${publicId} is ${publicId.length} characters; Cloudinary allows 255`);
  }
  let known = await h.ledger.assets.find(type, publicId, file.md5);
  const other = known ? undefined : placing.get(key);
  if (other) {
    await other;
    known = await h.ledger.assets.find(type, publicId, file.md5);
  }
  if (known) return { resourceType: type, publicId, url: known.secureUrl ?? h.uploader.secureUrl(publicId, type, file.format), uploaded: false };
  // No MEDIA_TAG: an asset only text references is invisible to deleteorphanedmedia, as it must be.
  const asset = await h.uploader.upload({ file, publicId, tags: ['media-migrate'] });
  if (asset.etag !== file.md5 || asset.bytes !== file.size) {
    if (asset.existing) {
      throw new PermanentError(
        Reason.etagMismatch,
        `an asset ${publicId} already exists with other content (etag ${asset.etag}; "${file.name}" is ${file.md5})`,
      );
    }
    await h.uploader.destroy(publicId, type);
    throw new RetryableError(Reason.etagMismatch, `uploaded bytes of "${file.name}" do not match the file (etag ${asset.etag} vs ${file.md5})`);
  }
  await h.ledger.assets.add(batch.id, { resourceType: type, publicId, etag: asset.etag, bytes: asset.bytes, format: asset.format, secureUrl: asset.secureUrl });
  return { resourceType: type, publicId, url: asset.secureUrl, uploaded: !asset.existing };
}
