import { randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Basic-auth credentials are sent by the browser with any request to the dashboard, including one a
 * foreign page makes it send. So a state-changing request must prove it comes from our own pages:
 *
 * - a request whose `Sec-Fetch-Site` is not `same-origin`, or whose `Origin` names another host, is
 *   refused, whatever else it carries;
 * - our own actions (`/api/...`) must also carry the page's token in `X-CSRF-Token` (read from
 *   `/api/session`, which a foreign page cannot read);
 * - bull-board's own calls cannot carry our token: for them the browser's `Sec-Fetch-Site:
 *   same-origin` or a matching `Origin` is the proof, and a request with neither is refused.
 */

export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function newCsrfToken(): string {
  return randomBytes(32).toString('base64url');
}

export interface CsrfRequest {
  method: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

const header = (req: CsrfRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

function sameToken(given: string | undefined, expected: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Why the request is refused, or undefined when it may go on. */
export function csrfRefusal(req: CsrfRequest, opts: { token: string; tokenRequired: boolean }): string | undefined {
  if (SAFE_METHODS.has(req.method.toUpperCase())) return undefined;
  const site = header(req, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin') return `cross-site request refused (Sec-Fetch-Site: ${site})`;
  const origin = header(req, 'origin');
  let originMatches = false;
  if (origin !== undefined) {
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (!host || host !== header(req, 'host')) return 'cross-origin request refused (Origin does not match)';
    originMatches = true;
  }
  if (sameToken(header(req, CSRF_HEADER), opts.token)) return undefined;
  if (opts.tokenRequired) return 'missing or wrong X-CSRF-Token';
  if (site === 'same-origin' || originMatches) return undefined;
  return 'state-changing request without Origin or Sec-Fetch-Site refused';
}
