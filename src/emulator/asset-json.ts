import { isoSeconds } from './clock.ts';
import { encodePublicIdForUrl } from './public-id.ts';
import { responseSignature } from './signature.ts';
import type { StoredAsset } from './store.ts';

/**
 * Delivery URL as Cloudinary builds it: `<origin>/<cloud>/<type>/upload/v<version>/<id>.<format>`,
 * raw ones with nothing appended (the id ends with the file's extension already). There is no TLS
 * here, so `secure_url` uses the same http origin.
 */
export function deliveryUrl(origin: string, cloudName: string, a: StoredAsset): string {
  const id = encodePublicIdForUrl(a.publicId);
  const suffix = a.resourceType === 'raw' || a.format === '' ? '' : `.${a.format}`;
  return `${origin}/${cloudName}/${a.resourceType}/upload/v${a.version}/${id}${suffix}`;
}

function displayName(publicId: string): string {
  return publicId.slice(publicId.lastIndexOf('/') + 1);
}

/**
 * Raw assets have no dimensions or format in Cloudinary's answers (their public_id carries the
 * extension). Videos do have dimensions there, but the emulator parses none, so it leaves them out
 * rather than answer a made-up size.
 */
function dimensions(a: StoredAsset): Record<string, number> {
  return a.width > 0 && a.height > 0 ? { width: a.width, height: a.height } : {};
}

function hasFormat(a: StoredAsset): boolean {
  return a.resourceType !== 'raw';
}

export interface UploadJsonExtras {
  apiKey: string;
  apiSecret: string;
  originalFilename: string;
  /** Only present when the request asked overwrite=false. */
  existing?: boolean;
}

/** Field order follows a real upload response, which makes side-by-side diffs easy. */
export function uploadJson(origin: string, cloudName: string, a: StoredAsset, x: UploadJsonExtras): Record<string, unknown> {
  const url = deliveryUrl(origin, cloudName, a);
  return {
    asset_id: a.assetId,
    public_id: a.publicId,
    version: a.version,
    version_id: responseSignature(a.publicId, a.version, a.assetId).slice(0, 32),
    signature: responseSignature(a.publicId, a.version, x.apiSecret),
    ...dimensions(a),
    ...(hasFormat(a) ? { format: a.format } : {}),
    resource_type: a.resourceType,
    created_at: isoSeconds(a.createdAt),
    tags: [...a.tags],
    bytes: a.bytes,
    type: 'upload',
    etag: a.etag,
    placeholder: false,
    url,
    secure_url: url,
    asset_folder: a.assetFolder,
    display_name: displayName(a.publicId),
    ...(x.existing === undefined ? {} : { existing: x.existing }),
    original_filename: x.originalFilename,
    api_key: x.apiKey,
  };
}

/**
 * An Admin API listing entry. Deliberately without `etag`: the real listing does not carry it,
 * and a client that relies on it would break against Cloudinary.
 */
export function listingJson(origin: string, cloudName: string, a: StoredAsset, withTags: boolean): Record<string, unknown> {
  const url = deliveryUrl(origin, cloudName, a);
  return {
    asset_id: a.assetId,
    public_id: a.publicId,
    ...(hasFormat(a) ? { format: a.format } : {}),
    version: a.version,
    resource_type: a.resourceType,
    type: 'upload',
    created_at: isoSeconds(a.createdAt),
    bytes: a.bytes,
    ...dimensions(a),
    asset_folder: a.assetFolder,
    display_name: displayName(a.publicId),
    url,
    secure_url: url,
    ...(withTags ? { tags: [...a.tags] } : {}),
  };
}
