/**
 * Deciding whether one URL names a file under MEDIA_ROOT, and which. Only the URL's own text counts:
 * the WHATWG parser is not used because it resolves '..' and '%2e%2e' away, hiding the very traversal
 * a reference must be refused for.
 */

import type { ReferenceSettings } from './types.ts';

export interface MediaSettings {
  mediaUrl: string;
  /** 'https://shop.example.com' and, for the default port spelled out, the same origin. */
  origins: ReadonlySet<string>;
  /** Hosts (with a non-default port) for protocol-relative '//shop.example.com/media/...'. */
  hosts: ReadonlySet<string>;
}

export interface MediaTarget {
  name: string;
  suffix: string;
  relative: boolean;
  unsafe?: string;
}

const compiled = new WeakMap<ReferenceSettings, MediaSettings>();

/** Validated once per settings object: a pipeline scans many rows with the same settings. */
export function compileSettings(settings: ReferenceSettings): MediaSettings {
  const known = compiled.get(settings);
  if (known) return known;
  const { mediaUrl } = settings;
  if (!mediaUrl.startsWith('/') || !mediaUrl.endsWith('/') || mediaUrl.startsWith('//')) {
    throw new TypeError(`mediaUrl "${mediaUrl}" must be a path starting and ending with "/", like "/media/"`);
  }
  const origins = new Set<string>();
  const hosts = new Set<string>();
  for (const origin of settings.mediaOrigins) {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new TypeError(`media origin "${origin}" is not a URL like "https://shop.example.com"`);
    }
    const bare = url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || !bare) {
      throw new TypeError(`media origin "${origin}" must be scheme://host[:port], like "https://shop.example.com"`);
    }
    origins.add(url.origin);
    hosts.add(url.host);
  }
  const result = { mediaUrl, origins, hosts };
  compiled.set(settings, result);
  return result;
}

const DEFAULT_PORT: Record<string, string> = { 'http:': ':80', 'https:': ':443' };

/** 'Shop.Example.com:443' → 'shop.example.com' for https; undefined when credentials ride along. */
function normaliseAuthority(authority: string, scheme: string | undefined): string | undefined {
  // 'https://shop.example.com@evil.test/' is evil.test: a URL with userinfo is never taken as ours.
  if (authority.includes('@')) return undefined;
  const host = authority.toLowerCase();
  const port = scheme ? DEFAULT_PORT[scheme] : undefined;
  return port && host.endsWith(port) ? host.slice(0, -port.length) : host;
}

/** Where the authority of '//host/...' ends; a browser also ends it at '\'. */
function authorityEnd(url: string, from: number): number {
  const m = /[/\\?#]/.exec(url.slice(from));
  return m ? from + m.index : url.length;
}

/** The URL's path if the URL points at this site, and whether it was page-relative. */
function sitePath(pathAndHost: string, m: MediaSettings): { path: string; relative: boolean } | undefined {
  if (pathAndHost.startsWith('//')) {
    const end = authorityEnd(pathAndHost, 2);
    const host = normaliseAuthority(pathAndHost.slice(2, end), undefined);
    const ours = host !== undefined && (m.hosts.has(host) || m.hosts.has(host.replace(/:(?:80|443)$/, '')));
    return ours ? { path: pathAndHost.slice(end), relative: false } : undefined;
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*:)\/\//.exec(pathAndHost);
  if (scheme) {
    const protocol = scheme[1]!.toLowerCase();
    const end = authorityEnd(pathAndHost, scheme[0].length);
    const host = normaliseAuthority(pathAndHost.slice(scheme[0].length, end), protocol);
    const ours = host !== undefined && m.origins.has(`${protocol}//${host}`);
    return ours ? { path: pathAndHost.slice(end), relative: false } : undefined;
  }
  if (pathAndHost.startsWith('/')) return { path: pathAndHost, relative: false };
  // TinyMCE writes '../../media/x.jpg' relative to the editing page. Climbing stops at the site's
  // root, so from any page no deeper than the '../' count it is '/media/x.jpg'; anything else
  // relative ('media/x.jpg', './x.jpg') depends on a page we do not know and is left alone.
  const climb = /^(?:\.\.\/)+/.exec(pathAndHost);
  if (climb) return { path: '/' + pathAndHost.slice(climb[0].length), relative: true };
  return undefined;
}

function unsafeReason(url: string, name: string): string | undefined {
  let why: string | undefined;
  if (name.includes('..') && name.split('/').includes('..')) why = 'leaves MEDIA_ROOT';
  else if (name.includes('\0')) why = 'names a NUL byte';
  // Browsers read '\' as '/' in http URLs, so '..\' is a way out that a '/'-only check misses.
  else if (name.includes('\\')) why = 'has a backslash, which browsers read as "/"';
  else if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) why = 'names an absolute path';
  return why && `reference ${JSON.stringify(url)} ${why}`;
}

/**
 * The file a URL names, or undefined when the URL is not ours: another host, another scheme, a path
 * outside MEDIA_URL, or a folder ('/media/', '/media/a/').
 */
export function mediaTarget(url: string, m: MediaSettings): MediaTarget | undefined {
  // Every URL of ours spells MEDIA_URL somewhere; most candidates in a page do not.
  if (!url.includes(m.mediaUrl)) return undefined;
  const cut = queryStart(url);
  const pathAndHost = url.slice(0, cut);
  const suffix = url.slice(cut);
  const site = sitePath(pathAndHost, m);
  if (!site || !site.path.startsWith(m.mediaUrl)) return undefined;
  const encoded = site.path.slice(m.mediaUrl.length);
  const relative = site.relative;
  let decoded = encoded;
  if (encoded.includes('%')) {
    try {
      decoded = decodeURIComponent(encoded);
    } catch {
      // Django writes names with `filepath_to_uri` (UTF-8): a stray '%' or a Latin-1 '%E9' is not a
      // name it wrote, and guessing which file was meant would upload the wrong one. Reported instead.
      if (encoded.endsWith('/')) return undefined;
      return { name: encoded, suffix, relative, unsafe: `reference ${JSON.stringify(url)} has malformed percent-encoding` };
    }
  }
  const name = withoutDotSegments(decoded);
  if (name === undefined) return undefined;
  const unsafe = unsafeReason(url, name);
  return unsafe ? { name, suffix, relative, unsafe } : { name, suffix, relative };
}

function queryStart(url: string): number {
  const q = url.indexOf('?');
  const h = url.indexOf('#');
  if (q < 0) return h < 0 ? url.length : h;
  return h < 0 ? q : Math.min(q, h);
}

/**
 * '.' segments are what a browser drops before asking ('/media/./a.jpg' is '/media/a.jpg'). A name
 * ending in '/' or '/.' is a folder: undefined.
 */
function withoutDotSegments(decoded: string): string | undefined {
  if (decoded === '' || decoded.endsWith('/') || decoded === '.' || decoded.endsWith('/.')) return undefined;
  if (!decoded.startsWith('./') && !decoded.includes('/./')) return decoded;
  return decoded
    .split('/')
    .filter((segment) => segment !== '.')
    .join('/');
}
