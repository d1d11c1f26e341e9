import { describe, expect, it } from 'vitest';
import { detectVideoFormat, isAudioFormat, resourceTypeForExtension, SNIFF_BYTES } from '../src/media/kind.ts';
import { gifBytes, jpegHeaderBytes, pngBytes } from './helpers/images.ts';
import {
  adtsFrame,
  aiffHeader,
  asfHeader,
  ebmlHeader,
  flacHeader,
  flvHeader,
  ftyp,
  id3Header,
  isoMedia,
  mp3Frame,
  mpegPsHeader,
  oggPage,
  padded,
  pdfBytes,
  riff,
  transportStream,
} from './helpers/media-headers.ts';

describe('detectVideoFormat', () => {
  const cases: [string, Buffer, string][] = [
    ['mp4 (isom)', isoMedia('isom'), 'mp4'],
    ['mp4 (mp42)', isoMedia('mp42', 2048, 1, ['mp42', 'isom']), 'mp4'],
    ['mp4 (dash)', isoMedia('dash'), 'mp4'],
    ['m4v (M4V )', isoMedia('M4V '), 'mp4'],
    ['mov (qt  )', isoMedia('qt  ', 2048, 1, ['qt  ']), 'mov'],
    ['mov without ftyp (wide atom first)', padded(Buffer.from([0, 0, 0, 8, 0x77, 0x69, 0x64, 0x65])), 'mov'],
    ['m4a (M4A )', isoMedia('M4A ', 2048, 1, ['M4A ', 'mp42', 'isom']), 'm4a'],
    ['3gp', isoMedia('3gp5', 2048, 1, ['3gp5', 'isom']), '3gp'],
    ['3g2', isoMedia('3g2a'), '3g2'],
    ['webm', padded(ebmlHeader('webm')), 'webm'],
    ['mkv', padded(ebmlHeader('matroska')), 'mkv'],
    ['avi', padded(riff('AVI ')), 'avi'],
    ['wav', padded(riff('WAVE')), 'wav'],
    ['ogv (Theora)', padded(oggPage('theora')), 'ogv'],
    ['ogg (Vorbis)', padded(oggPage('vorbis')), 'ogg'],
    ['flv', padded(flvHeader()), 'flv'],
    ['mp3 with an ID3 tag', padded(id3Header()), 'mp3'],
    ['mp3 without a tag', padded(mp3Frame()), 'mp3'],
    ['aac (ADTS)', padded(adtsFrame()), 'aac'],
    ['flac', padded(flacHeader()), 'flac'],
    ['aiff', padded(aiffHeader()), 'aiff'],
    ['amr', padded(Buffer.from('#!AMR\n')), 'amr'],
    ['mpeg-ts', transportStream(), 'ts'],
    ['m2ts', transportStream(true), 'm2ts'],
    ['mpeg program stream', padded(mpegPsHeader()), 'mpeg'],
    ['wmv (ASF)', padded(asfHeader()), 'wmv'],
  ];
  for (const [name, bytes, format] of cases) {
    it(`${name} → ${format}`, () => {
      expect(detectVideoFormat(bytes.subarray(0, SNIFF_BYTES))).toBe(format);
    });
  }

  it('needs only the first SNIFF_BYTES, and a short file is fine', () => {
    expect(detectVideoFormat(isoMedia('isom', 40))).toBe('mp4');
    expect(detectVideoFormat(ebmlHeader('webm'))).toBe('webm');
  });

  const negatives: [string, Buffer][] = [
    ['PDF', pdfBytes()],
    ['JPEG', jpegHeaderBytes(64, 48)],
    ['PNG', pngBytes(4, 4)],
    ['GIF', gifBytes(4, 4)],
    ['WebP (RIFF but not AVI/WAVE)', padded(Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WEBPVP8 ')]))],
    ['HEIC (ftyp heic)', padded(ftyp('heic', ['mif1', 'heic']))],
    ['AVIF (ftyp avif)', padded(ftyp('avif', ['avif', 'mif1', 'miaf']))],
    ['Canon CR3 (ftyp crx)', padded(ftyp('crx ', ['crx ', 'isom']))],
    ['plain text', Buffer.from('just some text, not a movie\n')],
    ['ZIP', padded(Buffer.from([0x50, 0x4b, 0x03, 0x04]))],
    ['empty', Buffer.alloc(0)],
    ['one 0x47 byte is no transport stream', padded(Buffer.from([0x47, 0x40, 0x00]))],
    ['0xFF 0xFF filler is no MPEG audio frame', Buffer.alloc(64, 0xff)],
  ];
  for (const [name, bytes] of negatives) {
    it(`${name} → undefined`, () => {
      expect(detectVideoFormat(bytes.subarray(0, SNIFF_BYTES))).toBeUndefined();
    });
  }
});

describe('resourceTypeForExtension', () => {
  it('maps Cloudinary image formats to image', () => {
    for (const ext of ['jpg', 'jpeg', 'JPG', '.png', 'gif', 'webp', 'bmp', 'tif', 'tiff', 'ico', 'svg', 'avif', 'heic', 'heif', 'psd', 'jxl']) {
      expect(resourceTypeForExtension(ext), ext).toBe('image');
    }
    // Cloudinary lists PDF (and AI/EPS) among its image formats: `auto` makes a PDF an image.
    expect(resourceTypeForExtension('pdf')).toBe('image');
  });

  it('maps video and audio formats to video', () => {
    for (const ext of ['mp4', 'MOV', 'webm', 'mkv', 'avi', 'ogv', 'flv', 'm4v', 'mpeg', 'mpg', '3gp', 'wmv', 'ts', 'mp3', 'wav', 'ogg', 'm4a', 'aac', 'flac', 'opus']) {
      expect(resourceTypeForExtension(ext), ext).toBe('video');
    }
  });

  it('maps everything else to raw', () => {
    for (const ext of ['docx', 'xlsx', 'zip', 'txt', 'csv', 'json', 'epub', '', 'tar.gz']) {
      expect(resourceTypeForExtension(ext), ext).toBe('raw');
    }
  });

  it('tells audio formats from video ones', () => {
    expect(['mp3', 'wav', 'm4a', 'ogg', 'flac'].every(isAudioFormat)).toBe(true);
    expect(['mp4', 'webm', 'ogv', 'mov'].some(isAudioFormat)).toBe(false);
  });
});
