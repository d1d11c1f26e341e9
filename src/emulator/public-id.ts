import { randomBytes } from 'node:crypto';
import { ApiError } from './reply.ts';

const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const FORBIDDEN = /[?&#\\%<>+]/;

export function randomAlnum(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  // 252 = 7 * 36: rejecting the top bytes keeps the alphabet uniform.
  for (let i = 0; i < length; i++) {
    let b = bytes[i] ?? 0;
    while (b >= 252) b = randomBytes(1)[0] ?? 0;
    out += ALNUM[b % 36];
  }
  return out;
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** Cloudinary's own ids when neither public_id nor use_filename is given: 20 lowercase alnum. */
export function randomPublicId(): string {
  return randomAlnum(20);
}

export function filenameStem(filename: string): string {
  const base = filename.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

export function filenameExtension(filename: string): string {
  const base = filename.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
}

/**
 * use_filename, per Cloudinary's "Permitted naming conventions": letters of any language, digits,
 * `.` and `-` stay; every other special character (spaces included) becomes `_`, and leading or
 * trailing ones are trimmed off.
 */
function sanitizeStem(stem: string): string {
  const cleaned = stem.replace(/[^\p{L}\p{M}\p{N}._-]/gu, '_').replace(/^_+|_+$/g, '');
  return cleaned === '' ? 'file' : cleaned;
}

export function validatePublicId(id: string, what = 'public_id'): void {
  if (id === '' || FORBIDDEN.test(id) || /^[\s/]|[\s/]$/.test(id)) {
    throw new ApiError(
      400,
      `Invalid ${what} '${id}' - it must not contain any of ?&#\\%<>+ nor start or end with a slash or a space`,
    );
  }
}

export interface NamingParams {
  public_id?: string | undefined;
  folder?: string | undefined;
  use_filename?: boolean;
  unique_filename?: boolean;
  filename: string;
  /** Raw assets keep their extension inside the public_id; images carry it in `format`. */
  keepExtension: boolean;
}

export function resolvePublicId(p: NamingParams): string {
  const folder = p.folder?.replace(/^\/+|\/+$/g, '') ?? '';
  if (folder !== '') validatePublicId(folder, 'folder');
  let id: string;
  if (p.public_id !== undefined && p.public_id !== '') {
    id = p.public_id;
  } else {
    const ext = p.keepExtension ? filenameExtension(p.filename) : '';
    let stem: string;
    if (p.use_filename) {
      stem = sanitizeStem(filenameStem(p.filename));
      if (p.unique_filename !== false) stem += `_${randomAlnum(6)}`;
    } else {
      stem = randomPublicId();
    }
    id = ext === '' ? stem : `${stem}.${ext}`;
  }
  const full = folder === '' ? id : `${folder}/${id}`;
  validatePublicId(full);
  return full;
}

/** Same escaping the SDK's url() applies, so our URLs and SDK-built URLs match byte for byte. */
export function encodePublicIdForUrl(id: string): string {
  return encodeURIComponent(id).replace(/%3A/g, ':').replace(/%2F/g, '/');
}
