import type { Logger } from 'pino';
import type { ResourceType } from '../media/kind.ts';

export interface Faults {
  /** Added before answering each upload/admin/destroy request. */
  latencyMs: number;
  /** Plus a uniform random 0..jitter, so concurrent clients don't march in lockstep. */
  latencyJitterMs: number;
  /** 0..1 probability an upload answers 500 {"error":{"message":"General Error"}}. */
  errorRate: number;
  /** 0..1 probability an upload answers 420 "Rate Limit Exceeded. Try again on <date> UTC". */
  rateLimitRate: number;
  /** How far in the future the 420's "Try again on" date lies. */
  rateLimitRetryAfterMs: number;
  /** 0..1 probability an upload is read and never answered (until the client gives up or close()). */
  hangRate: number;
}

export interface EmulatorOptions {
  /** 0 = random free port (default). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  cloudName?: string;
  apiKey?: string;
  apiSecret?: string;
  faults?: Partial<Faults>;
  /** Admin API calls per clock hour before 420 (default 500, like the free plan). */
  adminHourlyLimit?: number;
  /** Uploads larger than this answer 400 "File size too large" (default 100 MB). */
  maxImageBytes?: number;
  /**
   * Every chunk of a chunked upload but the last must be at least this big (default 5,000,000,
   * Cloudinary's documented 5 MB floor). Lower it only to keep tests small.
   */
  minChunkBytes?: number;
  /** Seed for the fault RNG so fault sequences are repeatable. */
  seed?: number;
  /** Debug-level request logging; the api_secret is never logged. */
  logger?: Logger;
}

export interface EmulatorAsset {
  /** Raw public_ids keep their extension (`media/manuals/guide.pdf`); image and video ones do not. */
  publicId: string;
  version: number;
  /** Sniffed from the content for images and videos; for raw, the public_id's extension (never answered). */
  format: string;
  bytes: number;
  etag: string;
  /** 0 when unknown: raw assets, and videos (the emulator parses no video dimensions). */
  width: number;
  height: number;
  tags: string[];
  createdAt: Date;
  data: Buffer;
  resourceType: ResourceType;
  assetId: string;
}

export interface EmulatorStats {
  /** Every upload POST received, including failed/injected ones and each chunk. */
  uploadRequests: number;
  created: number;
  existing: number;
  /** Uploads that replaced an existing asset (overwrite true). */
  overwritten: number;
  destroyed: number;
  adminCalls: number;
  /** Upload API tag calls (add_tag, remove_tag, ...). */
  tagCalls: number;
  /** Non-2xx answers of the upload/destroy/admin APIs, by HTTP status code. */
  rejected: Record<string, number>;
  injected: { errors: number; rateLimited: number; hangs: number };
  /**
   * How many times each public_id was created (>1 after a destroy + recreate). Raw and video ids
   * are keyed `raw:<id>` and `video:<id>`, since each type is its own namespace.
   */
  createdByPublicId: Record<string, number>;
}

export interface Emulator {
  url: string;
  port: number;
  cloudName: string;
  apiKey: string;
  apiSecret: string;
  /** `cloudinary://KEY:SECRET@CLOUD?upload_prefix=http://127.0.0.1:PORT` */
  cloudinaryUrl: string;
  /** Image assets of type upload, keyed by public_id. Live view. */
  assets: ReadonlyMap<string, EmulatorAsset>;
  /**
   * Assets of one resource type, keyed by public_id. Live view. Each type is its own namespace, as
   * in Cloudinary: image `media/a` and raw `media/a` are two assets.
   */
  assetsOf(resourceType: ResourceType): ReadonlyMap<string, EmulatorAsset>;
  setFaults(f: Partial<Faults>): void;
  faults(): Faults;
  stats(): EmulatorStats;
  /** Drops assets, pending chunked uploads, the admin quota and stats; faults are kept. */
  reset(): void;
  /** Also destroys hanging and keep-alive sockets so tests end promptly. */
  close(): Promise<void>;
}
