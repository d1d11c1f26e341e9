import { createHash } from 'node:crypto';
import { open, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, posix, sep } from 'node:path';
import { PermanentError } from '../errors.ts';
import type { ResourceType } from '../config/sources.ts';
import { Reason } from '../outcomes.ts';
import { detectVideoFormat } from './kind.ts';

/** A file under MEDIA_ROOT that passed every check and may be uploaded. */
export interface MediaFile {
  /** The column's value, with Windows separators normalised (what Django calls the file's name). */
  name: string;
  /** Real path on disk, inside MEDIA_ROOT. */
  path: string;
  size: number;
  md5: string;
  /**
   * Format in Cloudinary's spelling: by magic bytes for an image or a video (jpg, png, mp4, webm...),
   * the name's extension for a raw file ('' when it has none).
   */
  format: string;
  resourceType: ResourceType;
  /** The bytes, when small enough to keep: then exactly what was hashed is what gets uploaded. */
  data: Buffer | undefined;
}

export interface MediaLimits {
  maxFileBytes: number;
  /** For a video column's files, when set (MAX_VIDEO_BYTES); else maxFileBytes. */
  maxVideoBytes?: number | undefined;
  /** Above this the bytes are not kept in memory; the upload streams the file from disk. */
  keepInMemoryUpToBytes: number;
}

/** Django stores names relative to MEDIA_ROOT with forward slashes; old Windows rows may not. */
export function normaliseName(value: string): string {
  return value.replace(/\\/g, '/');
}

/**
 * Turns a column value into a path that is certainly inside MEDIA_ROOT, or refuses it. Lexical checks
 * first (no absolute paths, no `..` at all, no NUL), then the real path, which catches symlinks.
 * Returns undefined when nothing exists there.
 */
export async function resolveInside(mediaRoot: string, value: string): Promise<string | undefined> {
  const name = normaliseName(value);
  if (name.includes('\0')) throw new PermanentError(Reason.unsafePath, 'path contains a NUL byte');
  if (isAbsolute(name) || /^[A-Za-z]:\//.test(name)) {
    throw new PermanentError(Reason.unsafePath, `path "${name}" is absolute; only paths under MEDIA_ROOT are read`);
  }
  if (name.split('/').includes('..')) {
    throw new PermanentError(Reason.unsafePath, `path "${name}" contains ".."; only paths under MEDIA_ROOT are read`);
  }
  let real: string;
  try {
    real = await realpath(join(mediaRoot, name));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP') throw new PermanentError(Reason.unsafePath, `path "${name}" is a symlink loop`);
    throw err;
  }
  if (!real.startsWith(mediaRoot + sep)) {
    throw new PermanentError(Reason.unsafePath, `path "${name}" resolves outside MEDIA_ROOT (symlink)`);
  }
  return real;
}

/** Is there a file under MEDIA_ROOT at this name? A path that would leave MEDIA_ROOT, or a folder, serves nothing: false. */
export async function isUnderMediaRoot(mediaRoot: string, name: string): Promise<boolean> {
  try {
    const real = await resolveInside(mediaRoot, name);
    return real !== undefined && (await stat(real)).isFile();
  } catch (err) {
    if (err instanceof PermanentError) return false;
    throw err;
  }
}

/** Image formats Cloudinary accepts as `image`, recognised by their first bytes, not their name. */
export function detectImageFormat(head: Buffer): string | undefined {
  const b = head;
  const at = (i: number, ...bytes: number[]) => bytes.every((x, k) => b[i + k] === x);
  const ascii = (i: number, s: string) => b.subarray(i, i + s.length).toString('latin1') === s;
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpg';
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'gif';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (ascii(0, 'BM') && b.length >= 26) return 'bmp';
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return 'tiff';
  if (at(0, 0x00, 0x00, 0x01, 0x00)) return 'ico';
  if (ascii(4, 'ftyp')) {
    const brand = b.subarray(8, 12).toString('latin1');
    if (brand === 'avif' || brand === 'avis') return 'avif';
    if (['heic', 'heix', 'mif1', 'msf1'].includes(brand)) return 'heic';
  }
  const text = b.subarray(0, 1024).toString('utf8').trimStart();
  if (/^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*(<!DOCTYPE svg[^>]*>\s*)?<svg[\s>]/i.test(text)) return 'svg';
  return undefined;
}

/**
 * What the content must be for the column's storage class: an image (MediaCloudinaryStorage), a video
 * or audio container (VideoMediaCloudinaryStorage: Cloudinary refuses anything else as a video), or
 * anything non-empty (RawMediaCloudinaryStorage). Returns the format, or throws naming the file.
 */
export function checkContent(name: string, head: Buffer, resourceType: ResourceType): string {
  if (resourceType === 'raw') return posix.extname(name).slice(1).toLowerCase();
  if (resourceType === 'video') {
    const video = detectVideoFormat(head);
    if (!video) throw new PermanentError(Reason.notAVideo, `"${name}" is not a video (unrecognised content; the column's resourceType is video)`);
    return video;
  }
  const image = detectImageFormat(head);
  if (!image) throw new PermanentError(Reason.notAnImage, `"${name}" is not an image (unrecognised content)`);
  return image;
}

/**
 * The type a file referenced from text gets: its content decides, as Cloudinary's `auto` would for
 * images and videos; anything else is raw (a PDF linked from a post downloads as the PDF it is).
 */
export function typeOfContent(head: Buffer): ResourceType {
  if (detectImageFormat(head)) return 'image';
  return detectVideoFormat(head) ? 'video' : 'raw';
}

/**
 * Opens the file once (through its real path, so a symlink swapped in afterwards cannot redirect us),
 * checks size and content for the column's resource type, and hashes it. Returns undefined when the
 * file is not there.
 */
export async function readMediaFile(mediaRoot: string, value: string, limits: MediaLimits, wanted: ResourceType | 'auto' = 'image'): Promise<MediaFile | undefined> {
  const path = await resolveInside(mediaRoot, value);
  if (path === undefined) return undefined;
  const name = normaliseName(value);
  const fh = await open(path, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new PermanentError(wanted === 'image' ? Reason.notAnImage : Reason.emptyFile, `"${name}" is not a regular file`);
    if (st.size === 0) throw new PermanentError(Reason.emptyFile, `"${name}" is empty (0 bytes)`);
    // `auto` is decided by the first bytes, read before the size check below would need it.
    const resourceType = wanted === 'auto' ? typeOfContent(await readHead(fh)) : wanted;
    const video = resourceType === 'video' && limits.maxVideoBytes !== undefined;
    const max = video ? limits.maxVideoBytes! : limits.maxFileBytes;
    if (st.size > max) {
      throw new PermanentError(Reason.tooLarge, `"${name}" is ${st.size} bytes, over the ${max}-byte limit (${video ? 'MAX_VIDEO_BYTES' : 'MAX_FILE_BYTES'})`);
    }
    const keep = st.size <= limits.keepInMemoryUpToBytes;
    const hash = createHash('md5');
    let head: Buffer;
    let data: Buffer | undefined;
    if (keep) {
      // One read of the size fstat gave (FileHandle.readFile would stat again and read to EOF in
      // chunks: three more thread-pool trips for a small file). Bytes appended meanwhile are not
      // ours to upload: what is hashed is exactly what is sent.
      data = Buffer.allocUnsafe(st.size);
      const { bytesRead } = await fh.read(data, 0, st.size, 0);
      if (bytesRead < st.size) data = data.subarray(0, bytesRead);
      if (data.length === 0) throw new PermanentError(Reason.emptyFile, `"${name}" is empty (0 bytes)`);
      hash.update(data);
      head = data.subarray(0, 1024);
    } else {
      const buf = Buffer.allocUnsafe(1024 * 1024);
      let pos = 0;
      head = Buffer.alloc(0);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        if (pos === 0) head = Buffer.from(buf.subarray(0, Math.min(bytesRead, 1024)));
        hash.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
    }
    const format = checkContent(name, head, resourceType);
    const size = data ? data.length : st.size;
    return { name, path, size, md5: hash.digest('hex'), format, resourceType, data };
  } finally {
    await fh.close();
  }
}

/** The file's first bytes, what content detection reads. */
export async function readHead(fh: import('node:fs/promises').FileHandle): Promise<Buffer> {
  const buf = Buffer.alloc(1024);
  const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
  return buf.subarray(0, bytesRead);
}
