import type { IncomingMessage, ServerResponse } from 'node:http';
import { resourceTypeForExtension } from '../media/kind.ts';
import type { EmulatorContext } from './context.ts';
import { contentTypeFor } from './content-type.ts';
import { writeEmpty } from './reply.ts';
import type { StoredAsset } from './store.ts';

const DELIVERY_TYPES = new Set(['image', 'raw', 'video']);
const VERSION = /^v\d+$/;
const URL_SIGNATURE = /^s--[A-Za-z0-9_-]{8,32}--$/;
/** A transformation segment is comma-separated `key_value` components: `c_fill,w_100`, `t_thumb`. */
const TRANSFORMATION = /^(?:\$?[a-z][a-z0-9]*_[^,/]*)(?:,\$?[a-z][a-z0-9]*_[^,/]*)*$/;

function notFound(res: ServerResponse): void {
  writeEmpty(res, 404, { 'X-Cld-Error': 'Resource not found' });
}

interface Resolved {
  asset: StoredAsset;
  /** The format the URL's extension asks for, when it has one. */
  format: string | undefined;
}

/**
 * Image and video URLs: the last extension, when it names a format, is the format to deliver and
 * the rest is the public_id, so an asset whose id itself ends in `.jpg` needs `.jpg.jpg` (a video
 * URL may also end in an image format: Cloudinary answers a frame). Raw URLs: the path is the
 * public_id as it is, extension included, nothing stripped.
 */
function lookup(ctx: EmulatorContext, resourceType: string, candidate: string): Resolved | undefined {
  if (resourceType !== 'raw') {
    const dot = candidate.lastIndexOf('.');
    const ext = dot > candidate.lastIndexOf('/') + 1 ? candidate.slice(dot + 1).toLowerCase() : '';
    if (ext !== '' && resourceTypeForExtension(ext) !== 'raw') {
      const asset = ctx.store.get(resourceType, candidate.slice(0, dot));
      return asset ? { asset, format: ext } : undefined;
    }
  }
  const exact = ctx.store.get(resourceType, candidate);
  return exact ? { asset: exact, format: undefined } : undefined;
}

/**
 * Everything after `/<cloud>/<type>/upload/`: optional signature, transformations and version,
 * then the public_id (may contain folders) with an optional extension. Longest public_id wins, so
 * a folder that happens to look like a transformation still resolves.
 */
function resolve(ctx: EmulatorContext, resourceType: string, segments: string[]): Resolved | undefined {
  const versionAt = segments.findIndex((s) => VERSION.test(s));
  if (versionAt >= 0 && versionAt < segments.length - 1) {
    const found = lookup(ctx, resourceType, segments.slice(versionAt + 1).join('/'));
    if (found) return found;
  }
  for (let i = 0; i < segments.length; i++) {
    const found = lookup(ctx, resourceType, segments.slice(i).join('/'));
    if (found) return found;
    const seg = segments[i] as string;
    if (!(VERSION.test(seg) || URL_SIGNATURE.test(seg) || TRANSFORMATION.test(seg))) return undefined;
  }
  return undefined;
}

/**
 * `GET|HEAD /<cloud>/<image|raw|video>/upload/...`: the original bytes whatever transformation or
 * extension was asked for, with Cloudinary's quoted-MD5 ETag. The Content-Type is the format the URL
 * asks for, as Cloudinary answers (a raw asset's own extension, e.g. application/pdf); the emulator
 * does not transcode, so when that differs from the asset's own format it says so in X-Emulator-Format.
 */
export function handleDelivery(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, segments: string[]): void {
  const [cloud, resourceType, type, ...rest] = segments;
  if (cloud !== ctx.cloudName || resourceType === undefined || !DELIVERY_TYPES.has(resourceType) || type !== 'upload') {
    notFound(res);
    return;
  }
  const found = resolve(ctx, resourceType, rest);
  if (!found) {
    notFound(res);
    return;
  }
  const { asset } = found;
  const etag = `"${asset.etag}"`;
  const own = asset.format;
  const format = found.format ?? own;
  const headers: Record<string, string> = {
    'Content-Type': contentTypeFor(format),
    ...(contentTypeFor(format) !== contentTypeFor(own) ? { 'X-Emulator-Format': `${format} asked, ${own} served (not converted)` } : {}),
    ETag: etag,
    'Last-Modified': asset.createdAt.toUTCString(),
    'Cache-Control': 'public, max-age=2592000',
    'Accept-Ranges': 'none',
  };
  if (req.headers['if-none-match'] === etag) {
    if (!res.destroyed) {
      res.writeHead(304, headers);
      res.end();
    }
    return;
  }
  headers['Content-Length'] = String(asset.bytes);
  if (res.destroyed) return;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : asset.data);
}

/** Splits and decodes a path; undefined when a segment is not valid percent-encoding. */
export function pathSegments(path: string): string[] | undefined {
  try {
    return path
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}
