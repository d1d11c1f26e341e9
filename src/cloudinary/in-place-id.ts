import { Reason } from '../outcomes.ts';
import type { ResourceType } from '../config/sources.ts';
import { resourceTypeForExtension } from '../media/kind.ts';
import { prependPrefix } from './storage-convention.ts';

/**
 * Where django-cloudinary-storage will look for a row's image once it is switched on, before any row
 * changes. `MediaCloudinaryStorage.url(name)` prepends PREFIX unless the name starts with it and asks
 * the SDK for that resource's URL: a row holding `products/shoe.jpg` is fetched as
 * `.../image/upload/v1/media/products/shoe.jpg`, and Cloudinary reads the last extension as the format
 * to deliver, the rest as the public_id. So the asset `media/products/shoe` serves the old value as it
 * is: that public_id is the record's in-place id.
 */

/** Formats Cloudinary delivers an image as when a URL ends in them (its own list, lower case). */
const DELIVERY_FORMATS = new Set([
  'jpg', 'jpe', 'jpeg', 'jpc', 'jp2', 'j2k', 'wdp', 'jxr', 'hdp', 'png', 'gif', 'webp', 'bmp', 'tif', 'tiff',
  'ico', 'svg', 'avif', 'heic', 'heif', 'jxl', 'psd', 'tga', 'pdf', 'eps', 'ps', 'ai',
]);

/** Characters Cloudinary's naming rules forbid in a public_id. */
const FORBIDDEN = ['?', '&', '#', '\\', '%', '<', '>', '+'];

/** The value's last extension, as Cloudinary splits a delivery URL: undefined when there is none. */
export function deliveryExtension(value: string): string | undefined {
  const base = value.slice(value.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot < 0 ? undefined : base.slice(dot + 1);
}

/**
 * PREFIX + the value without its last extension: the public_id the switched storage will ask for. A raw
 * file's delivery URL is its public_id with nothing appended (RawMediaCloudinaryStorage), so its
 * in-place id is PREFIX + the value as it is, extension kept.
 */
export function inPlaceId(value: string, prefix: string, resourceType: ResourceType = 'image'): string {
  const full = prependPrefix(value, prefix);
  if (resourceType === 'raw') return full;
  const ext = deliveryExtension(full);
  return ext === undefined ? full : full.slice(0, full.length - ext.length - 1);
}

export interface InPlaceProblem {
  reason: Reason;
  detail: string;
}

/**
 * Why no asset can serve this value where the storage will look, or undefined when one can. Each
 * rule is one of Cloudinary's: an asset at such an id could not be created, or its URL would be read
 * as another asset's.
 */
export function inPlaceProblem(value: string, prefix: string, resourceType: ResourceType = 'image'): InPlaceProblem | undefined {
  const id = inPlaceId(value, prefix, resourceType);
  const ext = deliveryExtension(prependPrefix(value, prefix));
  const forbidden = FORBIDDEN.find((c) => id.includes(c));
  if (forbidden) {
    return { reason: Reason.illegalCharacters, detail: `the in-place id "${id}" holds "${forbidden}", which Cloudinary public_ids cannot` };
  }
  const segments = id.split('/');
  if (segments[segments.length - 1] === '') {
    return { reason: Reason.unknownFormat, detail: `the file name "${value.slice(value.lastIndexOf('/') + 1)}" is all extension: its URL names no public_id` };
  }
  if (segments.some((s) => s === '')) {
    return { reason: Reason.illegalCharacters, detail: `the in-place id "${id}" holds an empty folder name ("//")` };
  }
  const padded = segments.find((s) => s.trim() !== s);
  if (padded !== undefined) {
    return { reason: Reason.whitespace, detail: `"${padded}" in the in-place id "${id}" begins or ends with whitespace, which Cloudinary trims` };
  }
  const version = segments.slice(0, -1).find((s) => /^v\d+$/.test(s));
  if (version !== undefined) {
    return { reason: Reason.reservedFolder, detail: `the folder "${version}" in "${id}" would be read as a version in its URL` };
  }
  if (id.length > 255) {
    return { reason: Reason.tooLong, detail: `the in-place id is ${id.length} characters; Cloudinary allows 255` };
  }
  if (resourceType === 'image' && ext !== undefined && !DELIVERY_FORMATS.has(ext.toLowerCase())) {
    return { reason: Reason.unknownFormat, detail: `Cloudinary would read ".${ext}" as the format to deliver, and it knows no such format` };
  }
  if (resourceType === 'video' && ext !== undefined && resourceTypeForExtension(ext) !== 'video') {
    return { reason: Reason.unknownFormat, detail: `Cloudinary would read ".${ext}" as the video format to deliver, and it knows no such format` };
  }
  return undefined;
}
