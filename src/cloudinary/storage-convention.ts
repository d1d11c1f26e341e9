import { posix } from 'node:path';
import type { ResourceType } from '../config/sources.ts';

/**
 * What django-cloudinary-storage's MediaCloudinaryStorage does with a file named `products/shoe.jpg`:
 * `_save` prepends PREFIX (`media/`), uploads with `use_filename=True` and `folder=dirname(name)`, and
 * Cloudinary answers with the public_id `media/products/shoe_<6 random chars>`, which is what Django
 * stores. We build the same shape, but the 6 characters come from the file's MD5 instead of chance:
 * the same file always maps to the same public_id, so a retry, a re-run or a second row pointing at
 * the same file can never create a second asset (uploads use `overwrite: false`).
 */

/**
 * Cloudinary's naming rules ("Permitted naming conventions"): a public_id may hold letters of any
 * language, digits, `.`, `-` and `_`; `?&#\\%<>+` are forbidden, and with use_filename every other
 * special character (spaces included) becomes `_`, leading and trailing ones trimmed. Folders may keep
 * spaces but never the forbidden characters, which would make the storage class's own upload fail.
 */
const STEM_SPECIAL = /[^\p{L}\p{M}\p{N}._-]/gu;
const FORBIDDEN = /[?&#\\%<>+]/g;

function cleanStem(stem: string): string {
  return stem.replace(STEM_SPECIAL, '_').replace(/^_+|_+$/g, '') || 'file';
}

function cleanFolder(folder: string): string {
  return folder
    .split('/')
    .map((seg) => seg.replace(FORBIDDEN, '_').trim())
    .filter((seg) => seg !== '')
    .join('/');
}

export function prependPrefix(name: string, prefix: string): string {
  return prefix === '' || name.startsWith(prefix) ? name : prefix + name;
}

/** Six lowercase base-36 characters, the width of Cloudinary's own unique_filename suffix. */
export function contentSuffix(md5: string): string {
  return parseInt(md5.slice(0, 8), 16).toString(36).padStart(6, '0').slice(-6);
}

/**
 * An image or video public_id has no extension (the delivery URL's extension picks the format); a raw
 * one keeps it, as Cloudinary does with use_filename: `media/manuals/guide_x1y2z3.pdf`, delivered at
 * `/raw/upload/v1/<public_id>` with nothing appended.
 */
export function publicIdFor(name: string, md5: string, prefix: string, resourceType: ResourceType = 'image'): string {
  const full = prependPrefix(name, prefix);
  const dir = posix.dirname(full);
  const ext = posix.extname(full);
  const folder = dir === '.' ? '' : cleanFolder(dir);
  const stem = cleanStem(posix.basename(full, ext));
  const kept = resourceType === 'raw' ? ext.replace(STEM_SPECIAL, '_') : '';
  return `${folder ? `${folder}/` : ''}${stem}_${contentSuffix(md5)}${kept}`;
}

/** The longest a `secure_url` for this public_id can be, to check the column before uploading. */
export function predictedUrlLength(publicId: string, format: string, cloudName: string, origin = 'https://res.cloudinary.com', resourceType: ResourceType = 'image'): number {
  // `v` + a 10-digit Unix time covers every version until the year 2286.
  const suffix = resourceType === 'raw' || format === '' ? '' : `.${format}`;
  return `${origin}/${cloudName}/${resourceType}/upload/v0000000000/${publicId}${suffix}`.length;
}

export function isRemoteUrl(value: string): boolean {
  return /^(https?:)?\/\//i.test(value.trim());
}

/**
 * A value django-cloudinary-storage wrote itself: prefixed, and without the file extension every
 * Django file name has. Once the app runs on the new storage, new uploads look like this.
 */
export function isStoragePublicId(value: string, prefix: string, resourceType: ResourceType = 'image'): boolean {
  return prefix !== '' && value.startsWith(prefix) && (resourceType === 'raw' || posix.extname(value) === '');
}

/**
 * Could this value be one we wrote into a row (worth asking the ledger)? Image and video public_ids
 * have no extension; a raw one keeps its extension but starts with PREFIX, which a file name does not.
 */
export function mayBeOurValue(value: string, prefix: string, resourceType: ResourceType = 'image'): boolean {
  return resourceType === 'raw' ? value.startsWith(prefix) : posix.extname(value) === '';
}
