import { createHash } from 'node:crypto';

/** Parameters Cloudinary never includes in the string to sign. */
const UNSIGNED = new Set(['file', 'cloud_name', 'resource_type', 'api_key', 'signature']);

type Order = 'codepoint' | 'locale';

/**
 * Cloudinary's string to sign: every non-empty parameter except the unsigned ones, sorted by key,
 * as `k=v` joined with `&`. In signature version 2 (the SDK default) each `k=v` has `&` escaped
 * as `%26`, which stops a value from smuggling in an extra parameter.
 */
export function stringToSign(params: Record<string, string>, version: 1 | 2 = 2, order: Order = 'codepoint'): string {
  const entries = Object.entries(params).filter(([k, v]) => !UNSIGNED.has(k) && v !== '');
  // The server sorts bytewise; the Node SDK sorts with localeCompare. They agree for the
  // lowercase/underscore keys Cloudinary defines, and we accept both in case a key does not.
  entries.sort(order === 'locale' ? (a, b) => a[0].localeCompare(b[0]) : (a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return entries
    .map(([k, v]) => {
      const pair = `${k}=${v}`;
      return version >= 2 ? pair.replace(/&/g, '%26') : pair;
    })
    .join('&');
}

function algorithmFor(signature: string): 'sha1' | 'sha256' | undefined {
  if (!/^[0-9a-f]+$/i.test(signature)) return undefined;
  if (signature.length === 40) return 'sha1';
  if (signature.length === 64) return 'sha256';
  return undefined;
}

export function hashHex(input: string, algorithm: 'sha1' | 'sha256' = 'sha1'): string {
  return createHash(algorithm).update(input).digest('hex');
}

export interface SignatureCheck {
  valid: boolean;
  /** The canonical (version 2) string to sign, quoted back in "Invalid Signature" errors. */
  stringToSign: string;
}

/** Accepts sha1 or sha256 (told apart by length) and signature version 1 or 2. */
export function verifySignature(params: Record<string, string>, signature: string, secret: string): SignatureCheck {
  const canonical = stringToSign(params, 2);
  const algorithm = algorithmFor(signature);
  if (!algorithm) return { valid: false, stringToSign: canonical };
  const wanted = signature.toLowerCase();
  const candidates = new Set([
    canonical,
    stringToSign(params, 2, 'locale'),
    stringToSign(params, 1),
    stringToSign(params, 1, 'locale'),
  ]);
  for (const candidate of candidates) {
    if (hashHex(candidate + secret, algorithm) === wanted) return { valid: true, stringToSign: canonical };
  }
  return { valid: false, stringToSign: canonical };
}

/** The `signature` field of an upload response: what `api_sign_request({public_id, version})` gives. */
export function responseSignature(publicId: string, version: number, secret: string): string {
  return hashHex(stringToSign({ public_id: publicId, version: String(version) }) + secret);
}
