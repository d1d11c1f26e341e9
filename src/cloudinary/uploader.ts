import http from 'node:http';
import https from 'node:https';
import cloudinaryPkg from 'cloudinary';
import type { UploadApiResponse } from 'cloudinary';
import type { CloudinaryConfig } from '../config/config.ts';
import { CredentialsError, PermanentError, RateLimitedError, RetryableError, errorMessage } from '../errors.ts';
import type { ResourceType } from '../config/sources.ts';
import type { MediaFile } from '../media/media-file.ts';
import { Reason } from '../outcomes.ts';
import { prependPrefix } from './storage-convention.ts';

const { v2: cloudinary } = cloudinaryPkg;

/** What we ask Cloudinary to store. */
export interface UploadRequest {
  file: MediaFile;
  publicId: string;
  tags: readonly string[];
  /**
   * Replace what the id holds (and invalidate the CDN's copy). Only for an asset we placed ourselves
   * whose file has changed since: never for anyone else's.
   */
  replace?: boolean;
}

/** The part of Cloudinary's answer we keep in the ledger and check against the local file. */
export interface UploadedAsset {
  publicId: string;
  version: number;
  format: string;
  bytes: number;
  etag: string;
  width: number;
  height: number;
  secureUrl: string;
  /** True when the public_id already existed and `overwrite: false` left it untouched. */
  existing: boolean;
}

export interface RemoteAsset {
  publicId: string;
  bytes: number;
  format: string;
  version: number;
}

/**
 * Everything the tool asks of Cloudinary. Errors come out typed: CredentialsError, RateLimitedError,
 * RetryableError or PermanentError, never the SDK's plain objects.
 */
export interface Uploader {
  /** Uploads as the file's resource type (`req.file.resourceType`): each type is its own namespace of ids. */
  upload(req: UploadRequest): Promise<UploadedAsset>;
  /** Removes an asset through the Upload API (no hourly limit). False when it did not exist. */
  destroy(publicId: string, resourceType?: ResourceType): Promise<boolean>;
  /** Admin API look-up, 100 ids per call (its limit), so a batch costs one call per hundred assets. */
  lookup(publicIds: readonly string[], resourceType?: ResourceType): Promise<Map<string, RemoteAsset>>;
  /** HEAD on the delivery URL (the CDN has no rate limit): the ETag is the MD5 of the bytes. */
  deliveredEtag(publicId: string, resourceType?: ResourceType): Promise<string | undefined>;
  /** HEAD on any delivery URL: its status and ETag. */
  head(url: string): Promise<{ status: number; etag: string | undefined }>;
  /**
   * The URL MediaCloudinaryStorage.url(name) builds for a value: PREFIX prepended unless present,
   * then the SDK's delivery URL for that resource (with `v1/` for ids in folders).
   */
  storageUrl(name: string, prefix: string, resourceType?: ResourceType): string;
  /** Upload API tag calls (no hourly limit), up to 1,000 public_ids a call. */
  addTag(tag: string, publicIds: readonly string[], resourceType?: ResourceType): Promise<void>;
  removeTag(tag: string, publicIds: readonly string[], resourceType?: ResourceType): Promise<void>;
  /** One cheap signed call to learn, before any work, whether the key and secret are right. */
  checkCredentials(): Promise<void>;
  /** The original's delivery URL (a raw id keeps its extension; image and video ids are served as stored). */
  deliveryUrl(publicId: string, resourceType?: ResourceType): string;
  /**
   * The https delivery URL of an asset as the SDK builds it (what Cloudinary answers as `secure_url`,
   * `v1` for the version, which delivery ignores): for an asset whose upload answer we do not hold.
   */
  secureUrl(publicId: string, resourceType: ResourceType, format: string): string;
  close(): void;
}

export interface CloudinaryUploaderOptions {
  timeoutMs: number;
  chunkedAboveBytes: number;
  chunkBytes: number;
}

const DEFAULT_API = 'https://api.cloudinary.com';

/** Where delivery URLs live: the CDN for the real service, the same origin for a local emulator. */
export function deliveryOrigin(cfg: CloudinaryConfig): string {
  return cfg.uploadPrefix === DEFAULT_API ? 'https://res.cloudinary.com' : cfg.uploadPrefix;
}

interface SdkFailure {
  message?: string;
  http_code?: number;
  code?: string;
}

/** Maps whatever the SDK rejected with onto our error types. `what` names the call for the message. */
export function classifyCloudinaryFailure(err: unknown, what: string, rateLimitPauseMs: number): Error {
  // The Admin API rejects with `{ error: { message, http_code } }`, the Upload API with the inner object.
  const outer = (err ?? {}) as { error?: unknown };
  const e = (outer.error && typeof outer.error === 'object' ? outer.error : outer) as SdkFailure;
  const status = typeof e.http_code === 'number' ? e.http_code : undefined;
  const msg = errorMessage(e);
  if (status === 401 || status === 403 || /Invalid Signature|Unknown API key|Invalid api_key|api_secret mismatch|Invalid credentials/i.test(msg)) {
    return new CredentialsError(
      `CLOUDINARY_URL: Cloudinary refused the API key or secret (${status ?? 'error'}: ${msg.split('. String to sign')[0]})`,
    );
  }
  if (status === 420 || status === 429) {
    const m = /Try again on (\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)/.exec(msg);
    const until = m?.[1] ? Date.parse(`${m[1].replace(' ', 'T')}Z`) : NaN;
    const wait = Number.isFinite(until) ? Math.min(Math.max(until - Date.now(), 250), 3_600_000) : rateLimitPauseMs;
    return new RateLimitedError(wait, `${what}: Cloudinary rate limit (${status}), pausing ${Math.round(wait / 1000)}s`);
  }
  if (status === 499) return new RetryableError(Reason.retriesExhausted, `${what}: timed out (${msg})`);
  // The request, not the file, was malformed. The SDK draws each multipart boundary from 12 random
  // bytes keeping only [a-z0-9]; about once in 500,000 uploads none survives and the boundary is
  // empty. A new attempt draws a new one.
  if (status === 400 && /multipart|malformed request/i.test(msg)) {
    return new RetryableError(Reason.retriesExhausted, `${what}: Cloudinary could not read the request (${msg})`);
  }
  if (status === undefined || status >= 500) {
    return new RetryableError(Reason.retriesExhausted, `${what}: ${status ? `Cloudinary answered ${status}: ` : ''}${msg}`);
  }
  return new PermanentError(Reason.cloudinaryRejected, `${what}: Cloudinary refused it (${status}: ${msg})`);
}

/**
 * The SDK's Admin API calls ignore their `timeout` option (the request's timeout has no handler), so
 * a hung look-up would wait forever: bound it ourselves, as a 499 like the Upload API's own timeout.
 */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject({ message: `Request Timeout after ${ms} ms`, http_code: 499 }), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function toAsset(r: UploadApiResponse): UploadedAsset {
  return {
    publicId: r.public_id,
    version: r.version,
    format: r.format ?? '',
    bytes: r.bytes,
    etag: r.etag,
    width: r.width ?? 0,
    height: r.height ?? 0,
    secureUrl: r.secure_url,
    existing: r.existing === true,
  };
}

export function createCloudinaryUploader(cfg: CloudinaryConfig, opts: CloudinaryUploaderOptions & { rateLimitPauseMs: number }): Uploader {
  // Per-call credentials and our own keep-alive agent: the SDK's global config (and its habit of
  // reading CLOUDINARY_URL from the environment when loaded) plays no part, so tests can point two
  // uploaders at two emulators in one process. An http.Agent makes the SDK speak plain HTTP.
  const agent = cfg.uploadPrefix.startsWith('http:')
    ? new http.Agent({ keepAlive: true })
    : new https.Agent({ keepAlive: true });
  const base = {
    cloud_name: cfg.cloudName,
    api_key: cfg.apiKey,
    api_secret: cfg.apiSecret,
    upload_prefix: cfg.uploadPrefix,
    agent,
  };
  const delivery = deliveryOrigin(cfg);
  const fail = (err: unknown, what: string) => classifyCloudinaryFailure(err, what, opts.rateLimitPauseMs);
  // The real CDN's URLs as the SDK builds them; for an emulator, the same path on its own origin.
  const urlOptions =
    delivery === 'https://res.cloudinary.com'
      ? { cloud_name: cfg.cloudName, secure: true, urlAnalytics: false }
      : {
          cloud_name: cfg.cloudName,
          secure: false,
          cname: new URL(delivery).host,
          private_cdn: false,
          cdn_subdomain: false,
          secure_cdn_subdomain: false,
          urlAnalytics: false,
        };
  const head = async (url: string): Promise<{ status: number; etag: string | undefined }> => {
    let res: Response;
    try {
      res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(opts.timeoutMs) });
    } catch (err) {
      throw new RetryableError(Reason.retriesExhausted, `HEAD ${url}: ${errorMessage(err)}`);
    }
    return { status: res.status, etag: res.headers.get('etag')?.replace(/^W\//, '').replace(/"/g, '') };
  };
  /** One SDK tag call per 1,000 ids (the API's limit). */
  const tagCall = async (command: 'add_tag' | 'remove_tag', tag: string, publicIds: readonly string[], resourceType: ResourceType = 'image'): Promise<void> => {
    for (let i = 0; i < publicIds.length; i += 1_000) {
      const ids = publicIds.slice(i, i + 1_000);
      try {
        await cloudinary.uploader[command](tag, ids, { ...base, resource_type: resourceType, timeout: opts.timeoutMs } as never);
      } catch (err) {
        throw fail(err, `${command} ${tag} (${ids.length} assets)`);
      }
    }
  };

  return {
    upload(req) {
      // `base` last: V8 reshapes an object for each property written after a spread (~1.5 µs each).
      // The SDK drops an undefined `invalidate` before signing.
      const options = {
        resource_type: req.file.resourceType,
        public_id: req.publicId,
        overwrite: req.replace === true,
        invalidate: req.replace ? true : undefined,
        unique_filename: false,
        use_filename: false,
        tags: [...req.tags],
        timeout: opts.timeoutMs,
        filename: req.file.name.split('/').pop(),
        // Callbacks only: a promise the SDK also creates would otherwise reject unobserved.
        disable_promises: true,
        ...base,
      };
      const what = `upload of "${req.file.name}" as ${req.publicId}`;
      return new Promise<UploadedAsset>((resolve, reject) => {
        const done = (err: unknown, result?: UploadApiResponse) => {
          if (err || !result) reject(fail(err ?? { message: 'empty answer' }, what));
          else resolve(toAsset(result));
        };
        if (req.file.data) {
          const stream = cloudinary.uploader.upload_stream(options, done);
          stream.end(req.file.data);
        } else if (req.file.size > opts.chunkedAboveBytes) {
          cloudinary.uploader.upload_large(req.file.path, { ...options, chunk_size: opts.chunkBytes }, done);
        } else {
          cloudinary.uploader.upload(req.file.path, options, done);
        }
      });
    },

    async destroy(publicId, resourceType = 'image') {
      try {
        const r = await cloudinary.uploader.destroy(publicId, {
          ...base,
          resource_type: resourceType,
          invalidate: true,
          timeout: opts.timeoutMs,
        } as never);
        return (r as { result?: string }).result === 'ok';
      } catch (err) {
        throw fail(err, `destroy of ${publicId}`);
      }
    },

    async lookup(publicIds, resourceType = 'image') {
      const found = new Map<string, RemoteAsset>();
      for (let i = 0; i < publicIds.length; i += 100) {
        const ids = publicIds.slice(i, i + 100);
        let r: { resources?: { public_id: string; bytes: number; format: string; version: number }[] };
        try {
          r = await withTimeout(cloudinary.api.resources_by_ids([...ids], { ...base, resource_type: resourceType } as never), opts.timeoutMs);
        } catch (err) {
          throw fail(err, `Admin API look-up of ${ids.length} assets`);
        }
        for (const a of r.resources ?? []) {
          found.set(a.public_id, { publicId: a.public_id, bytes: a.bytes, format: a.format, version: a.version });
        }
      }
      return found;
    },

    async deliveredEtag(publicId, resourceType = 'image') {
      const url = `${delivery}/${cfg.cloudName}/${resourceType}/upload/${publicId.split('/').map(encodeURIComponent).join('/')}`;
      const { status, etag } = await head(url);
      if (status === 404) return undefined;
      if (status < 200 || status >= 300) throw new RetryableError(Reason.retriesExhausted, `HEAD ${publicId}: delivery answered ${status}`);
      return etag;
    },

    head,

    storageUrl(name, prefix, resourceType = 'image') {
      return cloudinary.url(prependPrefix(name, prefix), { ...urlOptions, resource_type: resourceType });
    },

    addTag: (tag, publicIds, resourceType) => tagCall('add_tag', tag, publicIds, resourceType),
    removeTag: (tag, publicIds, resourceType) => tagCall('remove_tag', tag, publicIds, resourceType),

    async checkCredentials() {
      try {
        await withTimeout(cloudinary.api.ping({ ...base } as never), opts.timeoutMs);
      } catch (err) {
        const e = fail(err, 'credentials check');
        if (e instanceof CredentialsError) throw e;
        if (e instanceof RateLimitedError) return; // the key worked; the Admin API is just busy
        throw e;
      }
    },

    secureUrl(publicId, resourceType, format) {
      return cloudinary.url(publicId, {
        ...urlOptions,
        resource_type: resourceType,
        version: 1,
        ...(resourceType === 'raw' || format === '' ? {} : { format }),
      });
    },

    deliveryUrl(publicId, resourceType = 'image') {
      return `${delivery}/${cfg.cloudName}/${resourceType}/upload/${publicId}`;
    },

    close() {
      agent.destroy();
    },
  };
}
