import { createHash, timingSafeEqual } from 'node:crypto';
import type { Credentials } from './deps.ts';

/**
 * HTTP basic auth on every route. Both sides are hashed to equal-length digests before a
 * constant-time compare, so neither the password nor its length leaks through timing.
 */

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export const AUTH_CHALLENGE = 'Basic realm="media-migrate dashboard", charset="UTF-8"';

export function credentialsChecker(creds: Credentials): (authorization: string | undefined) => boolean {
  const expected = digest(`${creds.user}:${creds.password}`);
  return (authorization) => {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
    if (!m?.[1]) return false;
    const given = digest(Buffer.from(m[1], 'base64').toString('utf8'));
    return timingSafeEqual(given, expected);
  };
}
