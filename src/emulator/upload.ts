import type { IncomingMessage } from 'node:http';
import { detectVideoFormat, SNIFF_BYTES, type ResourceType } from '../media/kind.ts';
import { uploadJson } from './asset-json.ts';
import { ByteList } from './bytes.ts';
import { parseContentRange } from './chunks.ts';
import { ceilToSecond, cloudinaryDateTime } from './clock.ts';
import type { EmulatorContext } from './context.ts';
import type { InjectedFault } from './faults.ts';
import { drain, readForm, type Form } from './form.ts';
import { probeImage } from './image.ts';
import { filenameExtension, filenameStem, resolvePublicId } from './public-id.ts';
import { ApiError, HANG, ok, type Reply } from './reply.ts';
import { authenticateSigned, flag } from './signed-request.ts';

const RESOURCE_TYPES = new Set(['image', 'raw', 'video', 'auto']);
const REMOTE_FETCH_TIMEOUT_MS = 30_000;

interface Source {
  data: ByteList;
  bytes: number;
  filename: string;
}

/** The body is read first: answering mid-upload would poison the client's keep-alive socket. */
async function injectFault(ctx: EmulatorContext, req: IncomingMessage, fault: InjectedFault): Promise<Reply> {
  await drain(req);
  const injected = ctx.stats.counters.injected;
  switch (fault) {
    case 'hang':
      injected.hangs += 1;
      return HANG;
    case 'error':
      injected.errors += 1;
      throw new ApiError(500, 'General Error');
    case 'rateLimit': {
      injected.rateLimited += 1;
      const when = ceilToSecond(Date.now() + ctx.faults.retryAfterMs());
      throw new ApiError(420, `Rate Limit Exceeded. Try again on ${cloudinaryDateTime(when)} UTC`);
    }
  }
}

function decodeDataUri(uri: string): ByteList | undefined {
  const comma = uri.indexOf(',');
  if (comma < 0) return undefined;
  const meta = uri.slice(5, comma);
  const payload = uri.slice(comma + 1);
  try {
    return ByteList.of(meta.endsWith(';base64') ? Buffer.from(payload, 'base64') : Buffer.from(decodeURIComponent(payload), 'utf8'));
  } catch {
    return undefined;
  }
}

async function fetchRemote(url: string, maxBytes: number): Promise<Source> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(REMOTE_FETCH_TIMEOUT_MS) });
  } catch (err) {
    throw new ApiError(400, `Error in loading ${url} - ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!res.ok) throw new ApiError(400, `Error in loading ${url} - ${res.status} ${res.statusText}`);
  const data = Buffer.from(await res.arrayBuffer());
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '') || 'file';
  return { data: ByteList.of(data.subarray(0, maxBytes)), bytes: data.length, filename: name };
}

/** The SDK streams local files as a `file` part; remote URLs and data URIs come as a `file` field. */
async function resolveSource(ctx: EmulatorContext, form: Form, params: Record<string, string>): Promise<Source> {
  if (form.file) return form.file;
  const file = params.file;
  if (file === undefined || file === '') throw new ApiError(400, 'Missing required parameter - file');
  if (file.startsWith('data:')) {
    const data = decodeDataUri(file);
    if (!data) throw new ApiError(400, 'Invalid data URI in file parameter');
    return { data, bytes: data.length, filename: 'file' };
  }
  if (/^https?:\/\//i.test(file)) return fetchRemote(file, ctx.maxImageBytes);
  throw new ApiError(400, `Unsupported source URL: ${file.slice(0, 120)}`);
}

interface Kind {
  resourceType: ResourceType;
  format: string;
  width: number;
  height: number;
}

/** Raw has no format of its own: the stored one is the public_id's extension, for delivery. */
const RAW: Kind = { resourceType: 'raw', format: '', width: 0, height: 0 };

/**
 * By content, as Cloudinary decides: `image` takes only images and `video` only video or audio
 * containers (each refused with Cloudinary's own message), `raw` any bytes, and `auto` tries image,
 * then video, then raw. A name's extension never makes a file a video.
 */
function classify(requested: string, data: ByteList): Kind {
  if (requested === 'raw') return RAW;
  if (requested !== 'video') {
    const info = probeImage(data);
    if (info) return { resourceType: 'image', ...info };
    if (requested === 'image') throw new ApiError(400, 'Invalid image file');
  }
  const video = detectVideoFormat(data.head(SNIFF_BYTES));
  if (video) return { resourceType: 'video', format: video, width: 0, height: 0 };
  if (requested === 'video') throw new ApiError(400, 'Unsupported video format or file');
  return RAW;
}

function parseTags(value: string | undefined): string[] {
  if (!value) return [];
  return [...new Set(value.split(',').map((t) => t.trim()).filter((t) => t !== ''))];
}

/** `POST /v1_1/:cloud/:resource_type/upload`, including each chunk of `upload_large`. */
export async function handleUpload(
  ctx: EmulatorContext,
  req: IncomingMessage,
  cloud: string,
  requestedType: string,
  origin: string,
): Promise<Reply> {
  ctx.stats.counters.uploadRequests += 1;
  const fault = ctx.faults.draw();
  if (fault) return injectFault(ctx, req, fault);
  if (cloud !== ctx.cloudName) {
    await drain(req);
    throw new ApiError(404, `Invalid cloud_name ${cloud}`);
  }
  if (!RESOURCE_TYPES.has(requestedType)) {
    await drain(req);
    throw new ApiError(400, `Invalid resource type ${requestedType}`);
  }

  const form = await readForm(req, { maxFileBytes: ctx.maxImageBytes });
  const params = authenticateSigned(ctx, form.fields);
  if (params.type && params.type !== 'upload') {
    throw new ApiError(400, `Delivery type ${params.type} is not supported by the emulator (only upload)`);
  }
  const source = await resolveSource(ctx, form, params);
  let data = source.data;
  let bytes = source.bytes;

  const rangeHeader = req.headers['content-range'];
  if (typeof rangeHeader === 'string' && rangeHeader !== '') {
    const uploadId = req.headers['x-unique-upload-id'];
    if (typeof uploadId !== 'string' || uploadId === '') {
      throw new ApiError(400, 'Missing X-Unique-Upload-Id header for a chunked upload');
    }
    const range = parseContentRange(rangeHeader);
    const outcome = ctx.chunks.accept(`${requestedType}:${uploadId}`, range, data, bytes);
    if (!outcome.done) {
      // Cloudinary's non-final chunk answer: progress only, fields not yet known are omitted.
      return ok({
        done: false,
        bytes: outcome.received,
        kind: 'upload',
        ...(requestedType === 'auto' ? {} : { resource_type: requestedType }),
        ...(params.public_id ? { public_id: params.public_id } : {}),
      });
    }
    data = outcome.data;
    bytes = data.length;
  }

  if (bytes > ctx.maxImageBytes) {
    throw new ApiError(400, `File size too large. Got ${bytes}. Maximum is ${ctx.maxImageBytes}.`);
  }
  if (bytes === 0) throw new ApiError(400, 'Empty file');

  const kind = classify(requestedType, data);
  const publicId = resolvePublicId({
    public_id: params.public_id,
    folder: params.folder,
    use_filename: flag(params.use_filename, false),
    unique_filename: flag(params.unique_filename, true),
    filename: source.filename,
    keepExtension: kind.resourceType === 'raw',
  });
  const overwrite = flag(params.overwrite, true);
  const extras = { apiKey: ctx.apiKey, apiSecret: ctx.apiSecret, originalFilename: filenameStem(source.filename) };

  // No await from here on: the existence check and the write must be atomic, or two concurrent
  // overwrite=false uploads of one public_id could both create it.
  const current = ctx.store.get(kind.resourceType, publicId);
  if (current && !overwrite) {
    ctx.stats.counters.existing += 1;
    ctx.log?.debug({ publicId }, 'upload answered existing');
    return ok(uploadJson(origin, ctx.cloudName, current, { ...extras, existing: true }));
  }
  const { asset, replaced } = ctx.store.put({
    publicId,
    resourceType: kind.resourceType,
    format: kind.resourceType === 'raw' ? filenameExtension(publicId) : kind.format,
    width: kind.width,
    height: kind.height,
    tags: parseTags(params.tags),
    data,
    assetFolder: params.asset_folder ?? params.folder ?? '',
  });
  if (replaced) ctx.stats.counters.overwritten += 1;
  else ctx.stats.created(kind.resourceType === 'image' ? publicId : `${kind.resourceType}:${publicId}`);
  ctx.log?.debug({ publicId, bytes, replaced }, 'upload stored');
  return ok(uploadJson(origin, ctx.cloudName, asset, overwrite ? extras : { ...extras, existing: false }));
}
