import { cloudinaryDateTime, unixSeconds } from './clock.ts';
import type { EmulatorContext } from './context.ts';
import { toParams } from './form.ts';
import { ApiError } from './reply.ts';
import { verifySignature } from './signature.ts';

const MAX_AGE_SECONDS = 3600;

/**
 * Authenticates an Upload API call (upload, destroy) the way Cloudinary does: api_key, then the
 * signature over every other parameter, then the timestamp's age. Returns the parameters.
 */
export function authenticateSigned(ctx: EmulatorContext, fields: Map<string, string[]>): Record<string, string> {
  const params = toParams(fields);
  const signature = params.signature;
  const apiKey = params.api_key;
  if (signature === undefined || signature === '') {
    // Unsigned uploads need an upload preset; the emulator has none configured.
    if (params.upload_preset) throw new ApiError(400, `Upload preset not found`);
    if (!apiKey) throw new ApiError(400, 'Upload preset must be specified when using unsigned upload');
    throw new ApiError(400, 'Missing required parameter - signature');
  }
  if (!apiKey) throw new ApiError(401, 'Must supply api_key');
  if (apiKey !== ctx.apiKey) throw new ApiError(401, `Unknown API key ${apiKey}`);
  const timestamp = params.timestamp;
  if (timestamp === undefined || timestamp === '') throw new ApiError(400, 'Missing required parameter - timestamp');
  const check = verifySignature(params, signature, ctx.apiSecret);
  if (!check.valid) {
    throw new ApiError(401, `Invalid Signature ${signature}. String to sign - '${check.stringToSign}'.`);
  }
  const reported = Number(timestamp);
  if (!Number.isFinite(reported)) throw new ApiError(400, `Invalid timestamp ${timestamp}`);
  if (reported < unixSeconds() - MAX_AGE_SECONDS) {
    const when = cloudinaryDateTime(new Date(reported * 1000));
    throw new ApiError(400, `Stale request - reported time is ${when} +0000 which is more than 1 hour ago`);
  }
  return params;
}

/** Cloudinary booleans arrive as "1"/"0" from the SDK (as_safe_bool) or "true"/"false" from forms. */
export function flag(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  const v = value.toLowerCase();
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  return fallback;
}
