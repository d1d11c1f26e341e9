/**
 * Which Cloudinary resource type a file is, from its first bytes or its name. Pure and standalone:
 * the pipeline and the emulator both use it, so it imports nothing from the project but a type.
 *
 * Format names are Cloudinary's own spelling (the `Format` constants of @cloudinary/url-gen:
 * 3g2 3gp avi flv m2ts mkv mov mp4 mpeg mts mxf ogv ts webm wmv; audio aac aiff amr flac m4a mp3
 * ogg opus wav). Cloudinary stores audio as resource type `video` ("Audio files use the video asset
 * type, not raw"), so audio containers count as video here.
 */

import type { ResourceType } from '../config/sources.ts';

export type { ResourceType };

/** How many leading bytes detectVideoFormat looks at; callers need read no more. */
export const SNIFF_BYTES = 1024;

const AUDIO_FORMATS = new Set(['aac', 'aiff', 'amr', 'flac', 'm4a', 'mp3', 'ogg', 'opus', 'wav']);

/** Cloudinary's documented image upload formats; note pdf, ai, eps and psd are images there. */
const IMAGE_EXTENSIONS = new Set([
  '3ds', 'ai', 'arw', 'avif', 'bmp', 'bw', 'cr2', 'cr3', 'djvu', 'dng', 'eps', 'eps3', 'ept', 'fbx',
  'flif', 'gif', 'glb', 'gltf', 'hdp', 'heic', 'heif', 'ico', 'indd', 'jp2', 'jpe', 'jpeg', 'jpg', 'jxl',
  'jxr', 'obj', 'pdf', 'ply', 'png', 'ps', 'psd', 'svg', 'tga', 'tif', 'tiff', 'u3ma', 'usdz', 'wdp', 'webp',
]);

/** Cloudinary's video upload formats, plus the usual aliases of the same containers (m4v, mpg). */
const VIDEO_EXTENSIONS = new Set([
  '3g2', '3gp', 'avi', 'flv', 'm2ts', 'm3u8', 'm4v', 'mkv', 'mov', 'mp4', 'mpd', 'mpeg', 'mpg', 'mts',
  'mxf', 'ogv', 'ts', 'webm', 'wmv', ...AUDIO_FORMATS,
]);

export function isAudioFormat(format: string): boolean {
  return AUDIO_FORMATS.has(format.toLowerCase());
}

/**
 * What Cloudinary's `resource_type: 'auto'` makes of a file by its extension (with or without the
 * dot, any case): one of its image formats, one of its video or audio formats, or else raw.
 */
export function resourceTypeForExtension(ext: string): ResourceType {
  const e = ext.replace(/^\./, '').toLowerCase();
  if (IMAGE_EXTENSIONS.has(e)) return 'image';
  if (VIDEO_EXTENSIONS.has(e)) return 'video';
  return 'raw';
}

/**
 * ISO base media brands of video and audio files. Image brands sharing the `ftyp` box (heic, mif1,
 * avif, crx for Canon CR3) are absent on purpose: those files are images.
 */
function brandFormat(brand: string): string | undefined {
  if (brand === 'qt  ') return 'mov';
  if (brand === 'M4A ' || brand === 'M4B ' || brand === 'M4P ') return 'm4a';
  if (brand.startsWith('3g2')) return '3g2';
  if (/^3g[gps][4-9]$/.test(brand)) return '3gp';
  if (/^iso[m2-9]$/.test(brand) || /^mp4[12]$/.test(brand)) return 'mp4';
  if (['mp71', 'avc1', 'dash', 'M4V ', 'M4VH', 'M4VP', 'f4v ', 'F4V ', 'mmp4', 'MSNV', 'XAVC'].includes(brand)) return 'mp4';
  return undefined;
}

/** An EBML variable-length integer: the leading zero bits say how many bytes follow. */
function readVint(b: Buffer, at: number): { value: number; length: number } | undefined {
  const first = b[at];
  if (first === undefined || first === 0) return undefined;
  const length = Math.clz32(first) - 23;
  if (length > 8 || at + length > b.length) return undefined;
  let value = first & (0xff >> length);
  for (let i = 1; i < length; i++) value = value * 256 + (b[at + i] as number);
  return { value, length };
}

/** Matroska and WebM share the EBML header; its DocType element (0x4282) tells them apart. */
function ebmlFormat(b: Buffer): string {
  for (let i = 4; i + 2 < Math.min(b.length, 64); i++) {
    if (b[i] !== 0x42 || b[i + 1] !== 0x82) continue;
    const size = readVint(b, i + 2);
    if (!size) break;
    const start = i + 2 + size.length;
    const docType = b.subarray(start, start + size.value).toString('latin1');
    return docType === 'webm' ? 'webm' : 'mkv';
  }
  return 'mkv';
}

/** MPEG-1 Layer III frame header, checked field by field so random bytes rarely pass. */
function isMp3Frame(b: Buffer): boolean {
  const [b0, b1, b2] = [b[0] ?? 0, b[1] ?? 0, b[2] ?? 0];
  if (b0 !== 0xff || (b1 & 0xe0) !== 0xe0) return false;
  const version = (b1 >> 3) & 3;
  const layer = (b1 >> 1) & 3;
  const bitrate = b2 >> 4;
  const sampleRate = (b2 >> 2) & 3;
  return version !== 1 && layer === 1 && bitrate !== 15 && bitrate !== 0 && sampleRate !== 3;
}

/** MPEG transport stream: 0x47 sync bytes every 188 (ts) or 192 (m2ts, 4-byte timestamp first) bytes. */
function transportStream(b: Buffer): string | undefined {
  const syncs = (offset: number, stride: number) =>
    b.length >= offset + 2 * stride + 1 && [0, 1, 2].every((k) => b[offset + k * stride] === 0x47);
  if (syncs(0, 188)) return 'ts';
  if (syncs(4, 192)) return 'm2ts';
  return undefined;
}

/**
 * The video or audio container a file's first bytes (SNIFF_BYTES are enough) announce, in
 * Cloudinary's spelling; undefined for anything else, images and documents included. Headers only:
 * a truncated file with a valid header passes here although Cloudinary would refuse it.
 */
export function detectVideoFormat(head: Buffer): string | undefined {
  const b = head;
  const at = (i: number, ...bytes: number[]) => bytes.every((x, k) => b[i + k] === x);
  const ascii = (i: number, s: string) => b.length >= i + s.length && b.toString('latin1', i, i + s.length) === s;

  if (ascii(4, 'ftyp')) return brandFormat(b.toString('latin1', 8, 12));
  // QuickTime files older than the ftyp box start straight with one of these atoms.
  if (['moov', 'mdat', 'wide', 'pnot'].some((atom) => ascii(4, atom)) && b.readUInt32BE(0) >= 8) return 'mov';
  if (at(0, 0x1a, 0x45, 0xdf, 0xa3)) return ebmlFormat(b);
  if (ascii(0, 'RIFF') && ascii(8, 'AVI ')) return 'avi';
  if (ascii(0, 'RIFF') && ascii(8, 'WAVE')) return 'wav';
  if (ascii(0, 'OggS')) return b.includes('\x80theora', 0, 'latin1') ? 'ogv' : 'ogg';
  if (ascii(0, 'FLV') && b[3] === 0x01) return 'flv';
  if (at(0, 0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11)) return 'wmv';
  if (at(0, 0x06, 0x0e, 0x2b, 0x34, 0x02, 0x05, 0x01, 0x01)) return 'mxf';
  if (at(0, 0x00, 0x00, 0x01, 0xba) || at(0, 0x00, 0x00, 0x01, 0xb3)) return 'mpeg';
  if (ascii(0, 'fLaC')) return 'flac';
  if (ascii(0, 'FORM') && (ascii(8, 'AIFF') || ascii(8, 'AIFC'))) return 'aiff';
  if (ascii(0, '#!AMR')) return 'amr';
  if (ascii(0, 'ID3') || isMp3Frame(b)) return 'mp3';
  // ADTS: the same 12-bit sync as MPEG audio, with the layer bits zero.
  if (b[0] === 0xff && ((b[1] ?? 0) & 0xf6) === 0xf0) return 'aac';
  return transportStream(b);
}
