/** The typed settings every module receives: parsed and checked once by config.ts, never read from the environment again. */

export type DatabaseClient = 'pg' | 'mysql2' | 'better-sqlite3';

export interface DatabaseConfig {
  url: string;
  client: DatabaseClient;
  /** PostgreSQL schema holding the app's tables and our ledger (search_path). */
  schema: string | undefined;
  poolMax: number;
}

export interface RedisConfig {
  url: string;
  /**
   * The prefix of every key: QUEUE_PREFIX as set, then, once the ledger is open, QUEUE_PREFIX and the
   * ledger's id (pipeline/ledger-space.ts), so two databases sharing one Redis never see each other's work.
   */
  prefix: string;
  /** Jobs Redis holds at once (QUEUE_WINDOW); the ledger holds the rest of the batch. */
  window: number;
  /** Once the ledger is open: whose keys these are. */
  ledger?: LedgerName | undefined;
}

/** A ledger as Redis and the logs know it. */
export interface LedgerName {
  /** The ledger's random identity (media_migrate_ledger). */
  id: string;
  /** Its database for humans, without credentials (config/database-label.ts). */
  database: string;
  /** QUEUE_PREFIX as set: shared by every ledger on this Redis. */
  queuePrefix: string;
}

export interface CloudinaryConfig {
  cloudName: string;
  apiKey: string;
  apiSecret: string;
  /** API origin, `https://api.cloudinary.com` unless CLOUDINARY_URL says `upload_prefix=`. */
  uploadPrefix: string;
}

export interface UploadConfig {
  timeoutMs: number;
  maxFileBytes: number;
  /** Videos have a plan limit of their own (100 MB on the free plan against 10 MB for images). */
  maxVideoBytes: number;
  /** Files above this go through the SDK's chunked `upload_large` instead of one request. */
  chunkedAboveBytes: number;
  /** Chunk size for chunked uploads (Cloudinary wants at least 5 MB per chunk but the last). */
  chunkBytes: number;
  attempts: number;
  backoffMs: number;
  rateLimitPauseMs: number;
  /** How long a worker's claim on a job lasts without renewal; a killed worker's jobs return after it. */
  lockDurationMs: number;
  /** How often workers look for jobs whose worker died (BullMQ's stalled-job check). */
  stalledIntervalMs: number;
}

export interface StorageConfig {
  /** django-cloudinary-storage's PREFIX: MEDIA_URL without its leading slash, `media/` by default. */
  prefix: string;
  /** django-cloudinary-storage's MEDIA_TAG: `deleteorphanedmedia` only looks at assets with it. */
  tag: string;
  /** The Django app label under which the default models live (`shop` gives `shop_productimages`). */
  appLabel: string;
  /** MEDIA_URL's path (`/media/`): a URL inside text whose path starts with it names a file under MEDIA_ROOT. */
  mediaUrl: string;
  /** MEDIA_ORIGINS (and MEDIA_URL's own origin when it is absolute): hosts whose media URLs are ours. */
  mediaOrigins: string[];
}

export interface Sections {
  database: DatabaseConfig;
  redis: RedisConfig;
  mediaRoot: string;
  cloudinary: CloudinaryConfig;
}
export type Section = keyof Sections;

export interface CommonConfig {
  storage: StorageConfig;
  upload: UploadConfig;
  logLevel: string;
  /** Every secret value we know of, so output can be scrubbed of them wherever it goes. */
  secrets: string[];
}

export type Config<S extends Section = Section> = CommonConfig & Pick<Sections, S>;

export type Env = Record<string, string | undefined>;
