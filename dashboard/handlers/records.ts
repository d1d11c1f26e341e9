import { assetUrl } from '../../src/config/cloudinary.ts';
import { searchRecords } from '../../src/ledger/search.ts';
import type { DashboardDeps } from '../deps.ts';
import { HttpError, HttpStatus, intParam, ok, type Handler } from '../http.ts';

/**
 * GET /api/records?q=…[&before=CURSOR][&per_page=20] — what `media-migrate find QUERY --json` prints:
 * records of any batch by table, `table:pk`, or a piece of the path or public_id, each with its
 * history and, where its asset exists, the asset's URL.
 */
export function recordHandlers(deps: DashboardDeps) {
  const search: Handler = async (req) => {
    const q = (req.query.q ?? '').trim();
    if (q === '') throw new HttpError(HttpStatus.badRequest, 'q: expected a table, table:pk, or a piece of a path or public_id');
    const perPage = intParam('per_page', req.query.per_page, { fallback: 20, max: 100 });
    const before = req.query.before === undefined || req.query.before === '' ? undefined : intParam('before', req.query.before);
    const r = await searchRecords(deps.db, q, { perPage, ...(before !== undefined ? { before } : {}) });
    const link = (publicId: string | null, outcome: string, dryRun: boolean) =>
      deps.delivery && publicId && !dryRun && (outcome === 'migrated' || outcome === 'staged') ? assetUrl(deps.delivery, publicId) : null;
    return ok({ ...r, records: r.records.map((f) => ({ ...f, history: f.history.map((e) => ({ ...e, url: link(e.publicId, e.outcome, e.dryRun) })) })) });
  };
  return { search };
}
