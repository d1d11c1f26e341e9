import { statSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { parseCloudinary } from './cloudinary.ts';

/**
 * Settings come from the environment (and a few CLI flags layered on top by the caller). They are
 * parsed and checked once, here; every other module receives the typed result and never looks at
 * `process.env`. A command asks only for the sections it uses, so `status` does not need Cloudinary.
 */

export type * from './types.ts';
import type { CloudinaryConfig, CommonConfig, Config, DatabaseClient, DatabaseConfig, Env, RedisConfig, Section, Sections, StorageConfig, UploadConfig } from './types.ts';

const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const DEFAULT_QUEUE_WINDOW = 10_000;
const MB = 1024 * 1024;

const positiveInt = (name: string, fallback: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) {
        ctx.addIssue({ code: 'custom', message: `${name}: expected a positive integer, got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

const commonSchema = z.object({
  MEDIA_PREFIX: z.string().optional(),
  MEDIA_URL: z.string().optional(),
  MEDIA_TAG: z.string().optional(),
  MEDIA_ORIGINS: z.string().optional(),
  DJANGO_APP_LABEL: z
    .string()
    .optional()
    .refine((v) => v === undefined || /^[A-Za-z_][A-Za-z0-9_]*$/.test(v), {
      message: 'DJANGO_APP_LABEL: expected a Django app label such as "shop"',
    }),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      message: 'LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent',
    })
    .optional(),
  UPLOAD_TIMEOUT_MS: positiveInt('UPLOAD_TIMEOUT_MS', 60_000),
  MAX_FILE_BYTES: positiveInt('MAX_FILE_BYTES', 10 * MB),
  MAX_VIDEO_BYTES: positiveInt('MAX_VIDEO_BYTES', 100 * MB),
  CHUNKED_UPLOAD_ABOVE_BYTES: positiveInt('CHUNKED_UPLOAD_ABOVE_BYTES', 20 * MB),
  UPLOAD_CHUNK_BYTES: positiveInt('UPLOAD_CHUNK_BYTES', 20 * MB),
  JOB_ATTEMPTS: positiveInt('JOB_ATTEMPTS', 8),
  LOCK_DURATION_MS: positiveInt('LOCK_DURATION_MS', 30_000),
  STALLED_INTERVAL_MS: positiveInt('STALLED_INTERVAL_MS', 30_000),
  RETRY_BACKOFF_MS: positiveInt('RETRY_BACKOFF_MS', 1_000),
  RATE_LIMIT_PAUSE_MS: positiveInt('RATE_LIMIT_PAUSE_MS', 60_000),
});

/** Turns Django's MEDIA_URL ("/media/") into django-cloudinary-storage's prefix ("media/"). */
export function storagePrefix(mediaUrlOrPrefix: string): string {
  const p = mediaUrlOrPrefix.replace(/^\/+/, '');
  return p === '' || p.endsWith('/') ? p : `${p}/`;
}

/**
 * MEDIA_URL as Django has it (`/media/`, or absolute on a CDN: `https://cdn.example.com/media/`) and
 * MEDIA_ORIGINS (the origins that served the app, comma-separated): where media URLs inside text point.
 */
export function parseMediaUrls(mediaUrl: string | undefined, origins: string | undefined, problems: string[]): { path: string; origins: string[] } | undefined {
  const raw = (mediaUrl ?? '/media/').trim();
  const out = new Set<string>();
  let path = raw;
  if (/^https?:\/\//i.test(raw)) {
    const u = new URL(raw);
    out.add(u.origin);
    path = u.pathname;
  }
  if (!path.startsWith('/')) path = `/${path}`;
  if (!path.endsWith('/')) path = `${path}/`;
  if (path === '/') {
    problems.push('MEDIA_URL: must name a folder such as /media/ (a site root would make every URL a media URL)');
    return undefined;
  }
  for (const o of (origins ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    let u: URL | undefined;
    try {
      u = new URL(o);
    } catch {
      u = undefined;
    }
    if (!u || !/^https?:$/.test(u.protocol) || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash || u.username) {
      problems.push(`MEDIA_ORIGINS: "${o}" is not an origin such as https://shop.example.com (scheme and host, no path)`);
      continue;
    }
    out.add(u.origin);
  }
  return { path, origins: [...out] };
}

export function databaseClientFor(url: string): DatabaseClient | undefined {
  const scheme = url.split(':', 1)[0]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return 'pg';
  if (scheme === 'mysql' || scheme === 'mariadb') return 'mysql2';
  if (scheme === 'sqlite' || scheme === 'file') return 'better-sqlite3';
  return undefined;
}

function parseDatabase(env: Env, problems: string[], secrets: string[]): DatabaseConfig | undefined {
  const url = env.DATABASE_URL?.trim();
  if (!url) {
    problems.push('DATABASE_URL: not set (expected postgres://user:password@host:5432/dbname)');
    return undefined;
  }
  const client = databaseClientFor(url);
  if (!client) {
    problems.push('DATABASE_URL: unsupported scheme (expected postgres://, mysql:// or sqlite://)');
    return undefined;
  }
  let schema = env.DATABASE_SCHEMA?.trim() || undefined;
  if (client !== 'better-sqlite3') {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      problems.push('DATABASE_URL: not a valid URL');
      return undefined;
    }
    if (parsed.password) secrets.push(decodeURIComponent(parsed.password), parsed.password);
    schema ??= parsed.searchParams.get('schema') ?? undefined;
  }
  if (schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(schema)) {
    problems.push('DATABASE_SCHEMA: expected a plain schema name such as "public"');
  }
  const poolMax = Number(env.DATABASE_POOL_MAX ?? 10);
  if (!Number.isInteger(poolMax) || poolMax < 1) problems.push('DATABASE_POOL_MAX: expected a positive integer');
  return { url, client, schema, poolMax };
}

function parseRedis(env: Env, problems: string[], secrets: string[]): RedisConfig | undefined {
  const url = env.REDIS_URL?.trim() || DEFAULT_REDIS_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    problems.push('REDIS_URL: not a valid URL (expected redis://host:6379)');
    return undefined;
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    problems.push('REDIS_URL: expected a redis:// or rediss:// URL');
    return undefined;
  }
  if (parsed.password) secrets.push(decodeURIComponent(parsed.password), parsed.password);
  const prefix = env.QUEUE_PREFIX?.trim() || 'media-migrate';
  if (prefix.includes(':') || /\s/.test(prefix)) problems.push('QUEUE_PREFIX: must not contain ":" or spaces');
  const rawWindow = env.QUEUE_WINDOW?.trim();
  const window = rawWindow ? Number(rawWindow) : DEFAULT_QUEUE_WINDOW;
  if (!Number.isInteger(window) || window < 1) {
    problems.push(`QUEUE_WINDOW: expected a positive integer (jobs Redis holds at once), got "${rawWindow}"`);
  }
  return { url, prefix, window };
}

function parseMediaRoot(env: Env, problems: string[], cwd: string): string | undefined {
  const raw = env.MEDIA_ROOT?.trim();
  if (!raw) {
    problems.push("MEDIA_ROOT: not set (expected the Django MEDIA_ROOT folder holding the app's uploads)");
    return undefined;
  }
  const abs = resolve(cwd, raw);
  try {
    if (!statSync(abs).isDirectory()) {
      problems.push(`MEDIA_ROOT: ${abs} is not a directory`);
      return undefined;
    }
    // Containment checks compare real paths, so the root itself must be resolved once here.
    return realpathSync(abs);
  } catch {
    problems.push(`MEDIA_ROOT: ${abs} does not exist`);
    return undefined;
  }
}

/**
 * Parses the settings a command needs. Collects every problem, then throws one ConfigError listing
 * them, one line each, so a user fixes them in one go.
 */
export function loadConfig<S extends Section>(env: Env, needs: readonly S[], cwd = process.cwd()): Config<S> {
  const problems: string[] = [];
  const secrets: string[] = [];
  const common = commonSchema.safeParse(env);
  if (!common.success) problems.push(...common.error.issues.map((i) => i.message));

  const sections: Partial<Sections> = {};
  const need = new Set<Section>(needs);
  if (need.has('database')) sections.database = parseDatabase(env, problems, secrets);
  if (need.has('redis')) sections.redis = parseRedis(env, problems, secrets);
  if (need.has('mediaRoot')) sections.mediaRoot = parseMediaRoot(env, problems, cwd);
  if (need.has('cloudinary')) sections.cloudinary = parseCloudinary(env, problems, secrets);

  const media = common.success ? parseMediaUrls(common.data.MEDIA_URL, common.data.MEDIA_ORIGINS, problems) : undefined;
  if (problems.length > 0 || !common.success || !media) throw new ConfigError(problems);
  const c = common.data;
  return {
    storage: {
      prefix: storagePrefix(c.MEDIA_PREFIX ?? media.path),
      tag: c.MEDIA_TAG ?? 'media',
      appLabel: c.DJANGO_APP_LABEL ?? 'shop',
      mediaUrl: media.path,
      mediaOrigins: media.origins,
    },
    upload: {
      timeoutMs: c.UPLOAD_TIMEOUT_MS,
      maxFileBytes: c.MAX_FILE_BYTES,
      maxVideoBytes: c.MAX_VIDEO_BYTES,
      chunkedAboveBytes: c.CHUNKED_UPLOAD_ABOVE_BYTES,
      chunkBytes: c.UPLOAD_CHUNK_BYTES,
      attempts: c.JOB_ATTEMPTS,
      lockDurationMs: c.LOCK_DURATION_MS,
      stalledIntervalMs: c.STALLED_INTERVAL_MS,
      backoffMs: c.RETRY_BACKOFF_MS,
      rateLimitPauseMs: c.RATE_LIMIT_PAUSE_MS,
    },
    logLevel: c.LOG_LEVEL ?? 'info',
    secrets: [...new Set(secrets.filter((s) => s.length >= 4))],
    ...(sections as Pick<Sections, S>),
  };
}

/** The dashboard's own settings; only `media-migrate dashboard` reads them. */
export interface DashboardConfig {
  /** Basic-auth user name (`DASHBOARD_USER`, default `admin`). */
  user: string;
  /** Basic-auth password (`DASHBOARD_PASSWORD`); undefined when not set. */
  password: string | undefined;
  /** `DASHBOARD_READ_ONLY=1`: no actions, bull-board read-only. */
  readOnly: boolean;
}

export function parseDashboard(env: Env): DashboardConfig {
  const problems: string[] = [];
  const user = env.DASHBOARD_USER?.trim() || 'admin';
  if (user.includes(':')) problems.push('DASHBOARD_USER: must not contain ":" (HTTP basic auth cannot carry it)');
  const password = env.DASHBOARD_PASSWORD || undefined;
  const ro = env.DASHBOARD_READ_ONLY?.trim().toLowerCase() ?? '';
  if (!['', '0', '1', 'true', 'false', 'yes', 'no', 'on', 'off'].includes(ro)) {
    problems.push('DASHBOARD_READ_ONLY: expected 1 or 0 (true/false)');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { user, password, readOnly: ['1', 'true', 'yes', 'on'].includes(ro) };
}
