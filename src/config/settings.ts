/**
 * Every environment variable the tool reads, in one list: the compose file, `.env.example` and the
 * README are checked against it by the tests, so none of them can name a setting that does nothing.
 * Parsing and validation live in config.ts (and, for the few command-specific ones, the command).
 */
export interface Setting {
  name: string;
  default: string;
  description: string;
}

export const SETTINGS: readonly Setting[] = [
  { name: 'DATABASE_URL', default: '(required)', description: 'the Django database: postgres://, mysql:// (MariaDB too) or sqlite://' },
  { name: 'DATABASE_SCHEMA', default: 'search_path', description: "PostgreSQL schema of the app's tables (also ?schema= in the URL)" },
  { name: 'DATABASE_POOL_MAX', default: '10', description: 'database connections per process' },
  { name: 'REDIS_URL', default: 'redis://127.0.0.1:6379', description: 'Redis shared by the producer and every worker' },
  { name: 'QUEUE_PREFIX', default: 'media-migrate', description: 'BullMQ key prefix' },
  { name: 'QUEUE_WINDOW', default: '10000', description: 'jobs Redis holds at once; the ledger holds the rest and workers refill the window from it' },
  { name: 'MEDIA_ROOT', default: '(required)', description: "Django's MEDIA_ROOT: the folder holding the uploads" },
  { name: 'CLOUDINARY_URL', default: '(required)', description: 'cloudinary://API_KEY:API_SECRET@CLOUD_NAME[?upload_prefix=...]' },
  { name: 'CLOUD_NAME', default: '', description: 'instead of CLOUDINARY_URL (also CLOUDINARY_CLOUD_NAME)' },
  { name: 'API_KEY', default: '', description: 'instead of CLOUDINARY_URL (also CLOUDINARY_API_KEY)' },
  { name: 'API_SECRET', default: '', description: 'instead of CLOUDINARY_URL (also CLOUDINARY_API_SECRET)' },
  { name: 'CLOUDINARY_CLOUD_NAME', default: '', description: 'as CLOUD_NAME (the names django-cloudinary-storage reads)' },
  { name: 'CLOUDINARY_API_KEY', default: '', description: 'as API_KEY' },
  { name: 'CLOUDINARY_API_SECRET', default: '', description: 'as API_SECRET' },
  { name: 'DJANGO_APP_LABEL', default: 'shop', description: 'app label of the default models (shop_productimages, ...)' },
  { name: 'MEDIA_PREFIX', default: 'media/', description: "django-cloudinary-storage's PREFIX" },
  { name: 'MEDIA_URL', default: '/media/', description: "Django's MEDIA_URL, used as the prefix when MEDIA_PREFIX is not set" },
  { name: 'MEDIA_TAG', default: 'media', description: "django-cloudinary-storage's MEDIA_TAG" },
  { name: 'MEDIA_ORIGINS', default: '', description: 'comma-separated origins that served the app (https://shop.example.com,...): their /media/ URLs inside text are ours too' },
  { name: 'MAX_FILE_BYTES', default: '10485760', description: "larger images and raw files fail as too_large (your plan's limit)" },
  { name: 'MAX_VIDEO_BYTES', default: '104857600', description: "larger videos fail as too_large (your plan's video limit)" },
  { name: 'CHUNKED_UPLOAD_ABOVE_BYTES', default: '20971520', description: "larger files use the SDK's chunked upload_large" },
  { name: 'UPLOAD_CHUNK_BYTES', default: '20971520', description: 'chunk size of chunked uploads (at least 5 MB)' },
  { name: 'UPLOAD_TIMEOUT_MS', default: '60000', description: "the SDK's request timeout" },
  { name: 'JOB_ATTEMPTS', default: '8', description: 'attempts per record for transient failures' },
  { name: 'RETRY_BACKOFF_MS', default: '1000', description: 'first retry delay (exponential, with jitter)' },
  { name: 'RATE_LIMIT_PAUSE_MS', default: '60000', description: "queue pause on 420/429 when Cloudinary's answer names no time" },
  { name: 'LOCK_DURATION_MS', default: '30000', description: "a worker's claim on a job; a dead worker's jobs return after it" },
  { name: 'STALLED_INTERVAL_MS', default: '30000', description: 'how often workers look for jobs of dead workers' },
  { name: 'LOG_LEVEL', default: 'info', description: 'pino level; logs go to stderr' },
  { name: 'DASHBOARD_USER', default: 'admin', description: 'dashboard basic-auth user' },
  { name: 'DASHBOARD_PASSWORD', default: '', description: 'dashboard basic-auth password (required off loopback)' },
  { name: 'DASHBOARD_READ_ONLY', default: '0', description: '1: the dashboard shows figures only, no actions' },
  { name: 'DEMO_DATABASE_URL', default: '(DATABASE_URL, else a SQLite file of its own)', description: 'where `demo` builds its tables (a schema or database named media_migrate_demo)' },
  { name: 'EMULATOR_CLOUD_NAME', default: 'demo', description: '`emulator`: the cloud name it serves' },
  { name: 'EMULATOR_API_KEY', default: '123456789012345', description: '`emulator`: the API key it accepts' },
  { name: 'EMULATOR_API_SECRET', default: 'emulator-secret', description: '`emulator`: the API secret it checks signatures with' },
  { name: 'EMULATOR_PUBLIC_URL', default: '(its own address)', description: '`emulator`: the origin others reach it at' },
  { name: 'EMULATOR_LATENCY_MS', default: '0', description: '`emulator`: latency added to each answer' },
  { name: 'EMULATOR_LATENCY_JITTER_MS', default: '0', description: '`emulator`: random extra latency' },
  { name: 'EMULATOR_ERROR_RATE', default: '0', description: '`emulator`: share of uploads answered 500' },
  { name: 'EMULATOR_RATE_LIMIT_RATE', default: '0', description: '`emulator`: share of uploads answered 420' },
  { name: 'EMULATOR_HANG_RATE', default: '0', description: '`emulator`: share of uploads never answered' },
];

export const SETTING_NAMES: ReadonlySet<string> = new Set(SETTINGS.map((s) => s.name));
