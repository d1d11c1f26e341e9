import type { IncomingMessage } from 'node:http';
import { listingJson } from './asset-json.ts';
import type { EmulatorContext } from './context.ts';
import { drain, listParam, readForm } from './form.ts';
import { ApiError, ok, type JsonReply } from './reply.ts';
import type { StoredAsset } from './store.ts';

const MAX_IDS = 100;
const DEFAULT_PAGE = 10;
const MAX_PAGE = 500;
const MAX_ADMIN_BODY = 4 * 1024 * 1024;

/** Admin API parameters arrive in the query (GET) or a urlencoded body (DELETE/POST). */
type Params = Map<string, string[]>;

function first(p: Params, name: string): string | undefined {
  return p.get(name)?.[0];
}

function authenticate(ctx: EmulatorContext, req: IncomingMessage): void {
  const header = req.headers.authorization ?? '';
  const m = /^Basic\s+(.+)$/i.exec(header);
  if (!m) throw new ApiError(401, 'Must supply api_key');
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const key = colon < 0 ? decoded : decoded.slice(0, colon);
  const secret = colon < 0 ? '' : decoded.slice(colon + 1);
  if (key === '') throw new ApiError(401, 'Must supply api_key');
  if (key !== ctx.apiKey) throw new ApiError(401, `Unknown API key ${key}`);
  if (secret !== ctx.apiSecret) throw new ApiError(401, 'api_secret mismatch');
}

/** An opaque-looking cursor (32 hex like Cloudinary's) that pins the position by creation order. */
function encodeCursor(seq: number): string {
  return seq.toString(16).padStart(32, '0');
}

function decodeCursor(cursor: string): number {
  if (!/^[0-9a-f]{32}$/.test(cursor)) throw new ApiError(400, `Invalid next_cursor ${cursor}`);
  return parseInt(cursor, 16);
}

function pageSize(p: Params): number {
  const raw = first(p, 'max_results');
  if (raw === undefined || raw === '') return DEFAULT_PAGE;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new ApiError(400, `Invalid max_results ${raw}`);
  return Math.min(n, MAX_PAGE);
}

/**
 * Newest first by default, as Cloudinary lists. Paging by creation sequence rather than offset
 * keeps pages stable while a migration keeps uploading.
 */
function paginate(ctx: EmulatorContext, origin: string, assets: StoredAsset[], p: Params): JsonReply {
  const direction = first(p, 'direction');
  const ascending = direction === 'asc' || direction === '1';
  const sorted = assets.sort((a, b) => (ascending ? a.seq - b.seq : b.seq - a.seq));
  const cursorParam = first(p, 'next_cursor');
  const after = cursorParam ? decodeCursor(cursorParam) : undefined;
  const remaining = after === undefined ? sorted : sorted.filter((a) => (ascending ? a.seq > after : a.seq < after));
  const size = pageSize(p);
  const page = remaining.slice(0, size);
  const withTags = first(p, 'tags') === 'true';
  const lastOnPage = page[page.length - 1];
  return ok({
    resources: page.map((a) => listingJson(origin, ctx.cloudName, a, withTags)),
    ...(remaining.length > size && lastOnPage ? { next_cursor: encodeCursor(lastOnPage.seq) } : {}),
  });
}

function byIds(ctx: EmulatorContext, origin: string, resourceType: string, ids: string[], p: Params): JsonReply {
  if (ids.length > MAX_IDS) {
    throw new ApiError(400, `Too many public_ids - got ${ids.length}, maximum is ${MAX_IDS}`);
  }
  const withTags = first(p, 'tags') === 'true';
  const found = [...new Set(ids)]
    .map((id) => ctx.store.get(resourceType, id))
    .filter((a): a is StoredAsset => a !== undefined);
  return ok({ resources: found.map((a) => listingJson(origin, ctx.cloudName, a, withTags)) });
}

function deleteResources(ctx: EmulatorContext, resourceType: string, p: Params): JsonReply {
  const ids = listParam(p, 'public_ids');
  const prefix = first(p, 'prefix');
  const all = first(p, 'all') === 'true';
  let targets: string[];
  if (ids) {
    if (ids.length > MAX_IDS) throw new ApiError(400, `Too many public_ids - got ${ids.length}, maximum is ${MAX_IDS}`);
    targets = ids;
  } else if (prefix !== undefined && prefix !== '') {
    targets = ctx.store.list(resourceType).filter((a) => a.publicId.startsWith(prefix)).map((a) => a.publicId);
  } else if (all) {
    targets = ctx.store.list(resourceType).map((a) => a.publicId);
  } else {
    throw new ApiError(400, 'Missing required parameter - public_ids');
  }
  const deleted: Record<string, string> = {};
  const counts: Record<string, { original: number; derived: number }> = {};
  for (const id of targets) {
    const removed = ctx.store.delete(resourceType, id);
    if (removed) ctx.stats.counters.destroyed += 1;
    deleted[id] = removed ? 'deleted' : 'not_found';
    counts[id] = { original: removed ? 1 : 0, derived: 0 };
  }
  return ok({ deleted, deleted_counts: counts, partial: false });
}

function route(ctx: EmulatorContext, method: string, rest: string[], p: Params, origin: string): JsonReply {
  const [head, resourceType, type, ...tail] = rest;
  if (head === 'ping' && rest.length === 1 && method === 'GET') return ok({ status: 'ok' });
  if (head !== 'resources' || resourceType === undefined) throw new ApiError(404, 'Not found');
  const isUpload = type === 'upload';
  if (method === 'GET') {
    if (type === undefined) {
      const prefix = first(p, 'prefix');
      const assets = ctx.store.list(resourceType).filter((a) => !prefix || a.publicId.startsWith(prefix));
      return paginate(ctx, origin, assets, p);
    }
    if (type === 'tags' && tail.length === 1) {
      const tag = tail[0] as string;
      return paginate(ctx, origin, ctx.store.list(resourceType).filter((a) => a.tags.includes(tag)), p);
    }
    if (tail.length === 0) {
      const ids = listParam(p, 'public_ids');
      if (ids) return isUpload ? byIds(ctx, origin, resourceType, ids, p) : ok({ resources: [] });
      const prefix = first(p, 'prefix');
      const assets = isUpload ? ctx.store.list(resourceType).filter((a) => !prefix || a.publicId.startsWith(prefix)) : [];
      return paginate(ctx, origin, assets, p);
    }
    if (tail.length === 1) {
      const id = tail[0] as string;
      const asset = isUpload ? ctx.store.get(resourceType, id) : undefined;
      if (!asset) throw new ApiError(404, `Resource not found - ${id}`);
      return ok(listingJson(origin, ctx.cloudName, asset, true));
    }
  }
  if (method === 'DELETE' && type !== undefined && tail.length === 0) {
    return isUpload ? deleteResources(ctx, resourceType, p) : ok({ deleted: {}, deleted_counts: {}, partial: false });
  }
  throw new ApiError(404, 'Not found');
}

/**
 * `/v1_1/:cloud/ping` and `/v1_1/:cloud/resources/...`: HTTP basic auth, then the hourly quota,
 * then the call. Quota headers ride on every answer once the caller is known, errors included.
 */
export async function handleAdmin(
  ctx: EmulatorContext,
  req: IncomingMessage,
  cloud: string,
  rest: string[],
  query: URLSearchParams,
  origin: string,
): Promise<JsonReply> {
  ctx.stats.counters.adminCalls += 1;
  const method = req.method ?? 'GET';
  let params: Params = new Map();
  for (const [k, v] of query) {
    const list = params.get(k);
    if (list) list.push(v);
    else params.set(k, [v]);
  }
  if (method === 'GET' || method === 'HEAD') {
    await drain(req);
  } else {
    const form = await readForm(req, { maxFileBytes: MAX_ADMIN_BODY });
    params = new Map([...params, ...form.fields]);
  }
  if (cloud !== ctx.cloudName) throw new ApiError(404, `Invalid cloud_name ${cloud}`);
  try {
    authenticate(ctx, req);
  } catch (err) {
    if (err instanceof ApiError) throw new ApiError(err.status, err.message, ctx.quota.headers());
    throw err;
  }
  const headers = ctx.quota.take();
  try {
    const reply = route(ctx, method, rest, params, origin);
    ctx.log?.debug({ method, rest }, 'admin call');
    return { ...reply, headers: { ...reply.headers, ...headers } };
  } catch (err) {
    if (err instanceof ApiError) throw new ApiError(err.status, err.message, headers);
    throw err;
  }
}
