import { deflateSync } from 'node:zlib';

/**
 * Dependency-free generators of real image bytes for tests. Distinct seeds give distinct bytes
 * (and so distinct MD5 etags), which lets tests tell uploads apart.
 */

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** node:zlib only has crc32 from Node 22 on; PNG chunks need it on Node 20. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = (CRC_TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** xorshift32: deterministic filler, so a seed always reproduces the same image. */
function prng(seed: number): () => number {
  let x = (seed | 0) || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

function png(width: number, height: number, raw: Buffer, level: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // adaptive filtering
  ihdr[12] = 0; // no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw, { level })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A valid RGB PNG with a seed-dependent gradient. */
export function pngBytes(width: number, height: number, seed = 0): Buffer {
  const stride = 1 + width * 3;
  const raw = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    raw[y * stride] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const o = y * stride + 1 + x * 3;
      raw[o] = (x * 7 + seed * 31) & 0xff;
      raw[o + 1] = (y * 13 + seed * 17) & 0xff;
      raw[o + 2] = (x ^ y ^ seed) & 0xff;
    }
  }
  // The seed is also stamped into the last pixel so tiny images of neighbouring seeds differ.
  raw.writeUInt8((seed >>> 8) & 0xff, raw.length - 2);
  raw.writeUInt8(seed & 0xff, raw.length - 1);
  return png(width, height, raw, 6);
}

/**
 * A PNG of roughly `targetBytes` (within a few hundred bytes): incompressible noise stored with
 * zlib level 0, for exercising chunked uploads and size limits.
 */
export function largePngBytes(targetBytes: number, seed = Date.now()): Buffer {
  const width = 1024;
  const stride = 1 + width * 3;
  const height = Math.max(1, Math.ceil(targetBytes / stride));
  const raw = Buffer.alloc(stride * height);
  const next = prng(seed);
  const words = Math.floor(raw.length / 4);
  for (let i = 0; i < words; i++) raw.writeUInt32LE(next(), i * 4);
  for (let y = 0; y < height; y++) raw[y * stride] = 0;
  return png(width, height, raw, 0);
}

/**
 * A valid GIF89a. Each pixel is preceded by an LZW clear code, which keeps the code size fixed at
 * 3 bits: crude, but any decoder accepts it and it needs no LZW encoder.
 */
export function gifBytes(width: number, height: number, seed = 0): Buffer {
  const header = Buffer.alloc(13);
  header.write('GIF89a', 0, 'ascii');
  header.writeUInt16LE(width, 6);
  header.writeUInt16LE(height, 8);
  header[10] = 0xf1; // global colour table, 2 bits colour resolution, 4 entries
  const palette = Buffer.from([
    seed & 0xff, (seed >>> 8) & 0xff, (seed >>> 16) & 0xff,
    255, 255, 255,
    255, 0, 0,
    0, 0, 255,
  ]);
  const descriptor = Buffer.alloc(10);
  descriptor[0] = 0x2c;
  descriptor.writeUInt16LE(width, 5);
  descriptor.writeUInt16LE(height, 7);

  const CLEAR = 4;
  const END = 5;
  const codes: number[] = [];
  for (let i = 0; i < width * height; i++) codes.push(CLEAR, (i + seed) % 4);
  codes.push(END);
  const packed: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const code of codes) {
    acc |= code << bits;
    bits += 3;
    while (bits >= 8) {
      packed.push(acc & 0xff);
      acc >>>= 8;
      bits -= 8;
    }
  }
  if (bits > 0) packed.push(acc & 0xff);
  const blocks: number[] = [2]; // LZW minimum code size
  for (let i = 0; i < packed.length; i += 255) {
    const block = packed.slice(i, i + 255);
    blocks.push(block.length, ...block);
  }
  blocks.push(0, 0x3b); // block terminator, trailer
  return Buffer.concat([header, palette, descriptor, Buffer.from(blocks)]);
}

/**
 * JPEG markers only (SOI, APP0/JFIF, a seed comment, SOF0, EOI): enough for header-based
 * probes such as image-size, not a decodable picture.
 */
export function jpegHeaderBytes(width: number, height: number, seed = 0): Buffer {
  const app0 = Buffer.from([0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);
  const text = Buffer.from(`seed:${seed}`, 'ascii');
  const com = Buffer.alloc(4 + text.length);
  com[0] = 0xff;
  com[1] = 0xfe;
  com.writeUInt16BE(text.length + 2, 2);
  text.copy(com, 4);
  const sof0 = Buffer.from([
    0xff, 0xc0, 0x00, 0x11, 0x08,
    (height >>> 8) & 0xff, height & 0xff,
    (width >>> 8) & 0xff, width & 0xff,
    0x03, 0x01, 0x11, 0x00, 0x02, 0x11, 0x00, 0x03, 0x11, 0x00,
  ]);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app0, com, sof0, Buffer.from([0xff, 0xd9])]);
}
