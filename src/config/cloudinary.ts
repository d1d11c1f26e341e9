import { ConfigError } from '../errors.ts';
import type { CloudinaryConfig, Env } from './types.ts';

/**
 * Cloudinary's settings: CLOUDINARY_URL (or the three names the seed app and django-cloudinary-storage
 * read), parsed without ever echoing the secret, and where assets are delivered for links to them.
 */

export function parseCloudinaryUrl(value: string): Omit<CloudinaryConfig, 'uploadPrefix'> & { uploadPrefix?: string } {
  // The message never echoes the value: it holds the secret.
  const bad = new ConfigError([
    'CLOUDINARY_URL: expected cloudinary://API_KEY:API_SECRET@CLOUD_NAME (optionally ?upload_prefix=https://host)',
  ]);
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw bad;
  }
  if (u.protocol !== 'cloudinary:' || !u.username || !u.password || !u.hostname) throw bad;
  const uploadPrefix = u.searchParams.get('upload_prefix') ?? undefined;
  if (uploadPrefix !== undefined && !/^https?:\/\/[^/]+/.test(uploadPrefix)) {
    throw new ConfigError(['CLOUDINARY_URL: upload_prefix must be an http:// or https:// origin']);
  }
  return {
    cloudName: decodeURIComponent(u.hostname),
    apiKey: decodeURIComponent(u.username),
    apiSecret: decodeURIComponent(u.password),
    ...(uploadPrefix ? { uploadPrefix: uploadPrefix.replace(/\/+$/, '') } : {}),
  };
}

export function parseCloudinary(env: Env, problems: string[], secrets: string[]): CloudinaryConfig | undefined {
  const url = env.CLOUDINARY_URL?.trim();
  let parsed: ReturnType<typeof parseCloudinaryUrl> | undefined;
  if (url) {
    try {
      parsed = parseCloudinaryUrl(url);
    } catch (err) {
      problems.push(...(err as ConfigError).problems);
      return undefined;
    }
  } else {
    // The seed app's own settings names, and the ones django-cloudinary-storage reads.
    const cloudName = env.CLOUD_NAME ?? env.CLOUDINARY_CLOUD_NAME;
    const apiKey = env.API_KEY ?? env.CLOUDINARY_API_KEY;
    const apiSecret = env.API_SECRET ?? env.CLOUDINARY_API_SECRET;
    if (!cloudName || !apiKey || !apiSecret) {
      problems.push('CLOUDINARY_URL: not set (or set CLOUD_NAME, API_KEY and API_SECRET)');
      return undefined;
    }
    parsed = { cloudName, apiKey, apiSecret };
  }
  secrets.push(parsed.apiSecret, encodeURIComponent(parsed.apiSecret));
  return { uploadPrefix: 'https://api.cloudinary.com', ...parsed };
}

/**
 * Where assets are delivered, for links to them (`find`, the dashboard): the cloud name and the CDN's
 * origin (the API's own for an emulator). Read from CLOUDINARY_URL or CLOUD_NAME when given, never the
 * secret; undefined when neither is set, so commands that only read the ledger still run without it.
 */
export function deliveryTarget(env: Env): { cloudName: string; origin: string } | undefined {
  const url = env.CLOUDINARY_URL?.trim();
  if (url) {
    try {
      const c = parseCloudinaryUrl(url);
      const prefix = c.uploadPrefix ?? 'https://api.cloudinary.com';
      return { cloudName: c.cloudName, origin: prefix === 'https://api.cloudinary.com' ? 'https://res.cloudinary.com' : prefix };
    } catch {
      return undefined;
    }
  }
  const cloudName = env.CLOUD_NAME ?? env.CLOUDINARY_CLOUD_NAME;
  return cloudName ? { cloudName, origin: 'https://res.cloudinary.com' } : undefined;
}

/** The delivery URL of an asset (its original, no transformation). */
export function assetUrl(target: { cloudName: string; origin: string }, publicId: string): string {
  return `${target.origin}/${target.cloudName}/image/upload/${publicId.split('/').map(encodeURIComponent).join('/')}`;
}
