/**
 * The first bytes of real video, audio and document files, built field by field from each
 * container's spec, then padded with seeded filler. No player would play them; every sniffer that
 * reads headers (ours, and Cloudinary's first check) sees what the real file starts with.
 */

function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

/** Deterministic filler: a seed always gives the same bytes, distinct seeds distinct MD5s. */
export function filler(length: number, seed = 1): Buffer {
  const out = Buffer.alloc(length);
  let x = (seed | 0) || 0x9e3779b9;
  for (let i = 0; i + 4 <= length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  return out;
}

/** `head` followed by filler up to `total` bytes (at least the head). */
export function padded(head: Buffer, total = 2048, seed = 1): Buffer {
  return Buffer.concat([head, filler(Math.max(0, total - head.length), seed)]);
}

/** An ISO BMFF `ftyp` box (mp4, mov, m4a, 3gp, and the heic/avif images that share it). */
export function ftyp(major: string, compatible: string[] = ['isom', 'mp41']): Buffer {
  const body = Buffer.concat([Buffer.from(major, 'latin1'), u32be(0x200), ...compatible.map((c) => Buffer.from(c, 'latin1'))]);
  return Buffer.concat([u32be(8 + body.length), Buffer.from('ftyp'), body]);
}

function box(type: string, body: Buffer): Buffer {
  return Buffer.concat([u32be(8 + body.length), Buffer.from(type, 'latin1'), body]);
}

/** ftyp + a moov stub + mdat, the layout of a fast-start file. */
export function isoMedia(major: string, total = 2048, seed = 1, compatible?: string[]): Buffer {
  const head = Buffer.concat([ftyp(major, compatible), box('moov', box('mvhd', Buffer.alloc(100)))]);
  const mdatBody = filler(Math.max(0, total - head.length - 8), seed);
  return Buffer.concat([head, box('mdat', mdatBody)]);
}

/** EBML element: id bytes, a one-byte size (values under 127), the payload. */
function ebml(id: number[], payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(id), Buffer.from([0x80 | payload.length]), payload]);
}

/** An EBML header as mkvmerge and ffmpeg write it, DocType `webm` or `matroska`. */
export function ebmlHeader(docType: 'webm' | 'matroska'): Buffer {
  const body = Buffer.concat([
    ebml([0x42, 0x86], Buffer.from([1])), // EBMLVersion
    ebml([0x42, 0xf7], Buffer.from([1])), // EBMLReadVersion
    ebml([0x42, 0xf2], Buffer.from([4])), // EBMLMaxIDLength
    ebml([0x42, 0xf3], Buffer.from([8])), // EBMLMaxSizeLength
    ebml([0x42, 0x82], Buffer.from(docType, 'latin1')), // DocType
    ebml([0x42, 0x87], Buffer.from([4])), // DocTypeVersion
    ebml([0x42, 0x85], Buffer.from([2])), // DocTypeReadVersion
  ]);
  // Segment with an unknown size (all ones), as live-written files have.
  const segment = Buffer.from([0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  return Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x80 | body.length]), body, segment]);
}

export function riff(form: 'AVI ' | 'WAVE', total = 2048): Buffer {
  const first =
    form === 'WAVE'
      ? Buffer.concat([Buffer.from('fmt '), u32le(16), Buffer.from([1, 0, 2, 0]), u32le(44100), u32le(176400), Buffer.from([4, 0, 16, 0])])
      : Buffer.concat([Buffer.from('LIST'), u32le(192), Buffer.from('hdrl'), Buffer.from('avih'), u32le(56), Buffer.alloc(56)]);
  return Buffer.concat([Buffer.from('RIFF'), u32le(total - 8), Buffer.from(form, 'latin1'), first]);
}

/** The first Ogg page: its one packet is a Theora (video) or Vorbis (audio) identification header. */
export function oggPage(codec: 'theora' | 'vorbis'): Buffer {
  const packet =
    codec === 'theora'
      ? Buffer.concat([Buffer.from([0x80]), Buffer.from('theora'), Buffer.from([3, 2, 1]), Buffer.alloc(33)])
      : Buffer.concat([Buffer.from([0x01]), Buffer.from('vorbis'), Buffer.alloc(23)]);
  const header = Buffer.concat([
    Buffer.from('OggS'),
    Buffer.from([0, 0x02]), // version, beginning-of-stream
    Buffer.alloc(8), // granule position
    u32le(0x1234), // serial
    u32le(0), // page sequence
    u32le(0), // CRC (not checked by sniffers)
    Buffer.from([1, packet.length]),
  ]);
  return Buffer.concat([header, packet]);
}

export const flvHeader = (): Buffer => Buffer.from([0x46, 0x4c, 0x56, 0x01, 0x05, 0, 0, 0, 9, 0, 0, 0, 0]);

export const id3Header = (): Buffer => Buffer.from([0x49, 0x44, 0x33, 0x04, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01]);

/** An MPEG-1 Layer III frame header: 128 kbit/s, 44.1 kHz, no CRC. */
export const mp3Frame = (): Buffer => Buffer.from([0xff, 0xfb, 0x90, 0x64]);

/** ADTS (AAC) frame header: MPEG-4, AAC LC, 44.1 kHz, stereo. */
export const adtsFrame = (): Buffer => Buffer.from([0xff, 0xf1, 0x50, 0x80, 0x02, 0x1f, 0xfc]);

/** Three 188-byte transport-stream packets, or 192-byte ones with the 4-byte M2TS timestamp. */
export function transportStream(m2ts = false): Buffer {
  const packets = [0, 1, 2].map((i) => {
    const p = Buffer.alloc(188, 0xff);
    p[0] = 0x47;
    p[1] = 0x40;
    p[3] = 0x10 | i;
    return m2ts ? Buffer.concat([u32be(i * 1000), p]) : p;
  });
  return Buffer.concat(packets);
}

export const mpegPsHeader = (): Buffer => Buffer.from([0x00, 0x00, 0x01, 0xba, 0x44, 0x00, 0x04, 0x00, 0x04, 0x01]);

export const asfHeader = (): Buffer =>
  Buffer.from([0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11, 0xa6, 0xd9, 0x00, 0xaa, 0x00, 0x62, 0xce, 0x6c]);

export const flacHeader = (): Buffer => Buffer.concat([Buffer.from('fLaC'), Buffer.from([0x00, 0x00, 0x00, 0x22])]);

export const aiffHeader = (): Buffer => Buffer.concat([Buffer.from('FORM'), u32be(4000), Buffer.from('AIFF'), Buffer.from('COMM')]);

export const pdfBytes = (seed = 1): Buffer =>
  Buffer.concat([Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n', 'latin1'), filler(512, seed), Buffer.from('\n%%EOF\n')]);

/** An mp4 of about `total` bytes. */
export const mp4Bytes = (total = 2048, seed = 1): Buffer => isoMedia('isom', total, seed, ['isom', 'iso2', 'avc1', 'mp41']);
