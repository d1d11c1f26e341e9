import { imageSize } from 'image-size';
import { ByteList } from './bytes.ts';

/**
 * Growing prefixes: 16 KB holds the header of nearly every file, 512 KB a JPEG behind a large
 * EXIF/ICC block; TIFFs with trailing IFDs fall back to the whole file.
 */
const PROBE_PREFIXES = [16 * 1024, 512 * 1024];

/**
 * image-size detector type -> Cloudinary format name. Types Cloudinary does not take as images
 * (dds, ktx, icns, cur, j2c, pnm) are left out, so they answer "Invalid image file" as in the cloud.
 */
const FORMATS: Record<string, string> = {
  jpg: 'jpg',
  png: 'png',
  gif: 'gif',
  webp: 'webp',
  bmp: 'bmp',
  tiff: 'tiff',
  svg: 'svg',
  ico: 'ico',
  heif: 'heif',
  heic: 'heic',
  avif: 'avif',
  psd: 'psd',
  jp2: 'jp2',
  jxl: 'jxl',
  'jxl-stream': 'jxl',
  tga: 'tga',
};

export interface ImageInfo {
  format: string;
  width: number;
  height: number;
}

function probe(data: Buffer): ImageInfo | undefined {
  if (data.length === 0) return undefined;
  try {
    const size = imageSize(data);
    const format = size.type === undefined ? undefined : FORMATS[size.type];
    // A zero dimension means a header-shaped accident (TGA's signature is mostly zero bytes).
    if (!format || !(size.width > 0) || !(size.height > 0)) return undefined;
    return { format, width: size.width, height: size.height };
  } catch {
    return undefined;
  }
}

/** Only headers are parsed, so this stays cheap even for the 100 MB limit. */
export function probeImage(data: ByteList): ImageInfo | undefined {
  for (const n of PROBE_PREFIXES) {
    const found = probe(data.head(n));
    if (found || data.length <= n) return found;
  }
  return probe(data.buffer);
}
