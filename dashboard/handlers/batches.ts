import { batchStatus } from '../../src/ledger/batch-status.ts';
import type { LedgerRecord } from '../../src/ledger/ledger.ts';
import { Outcome, countKey } from '../../src/outcomes.ts';
import { reportCsv } from '../../src/ledger/report.ts';
import { listWorkers } from '../../src/pipeline/worker-registry.ts';
import type { DashboardDeps } from '../deps.ts';
import { findBatch, overview } from '../figures.ts';
import { HttpError, HttpStatus, intParam, ok, type Handler } from '../http.ts';

/** Read-only answers about batches: the same figures as `status --json`, and the records behind them. */

const OUTCOMES = Object.values(Outcome) as readonly string[];

function outcomeParam(value: string | undefined): Outcome {
  const v = value ?? Outcome.failed;
  if (!OUTCOMES.includes(v)) throw new HttpError(HttpStatus.badRequest, `outcome: expected one of ${OUTCOMES.join(', ')}`);
  return v as Outcome;
}

/** `uploads/a.jpg, uploads/gone.jpg (missing)`: a text record's files, the ones not rewritten marked. */
function referencesText(refs: string): string {
  const list = JSON.parse(refs) as { name: string; state: string }[];
  return list.map((x) => (x.state === 'rewritten' ? x.name : `${x.name} (${x.state})`)).join(', ');
}

/** What the page and the API show of a record: where it is, what happened, why. */
function recordView(r: LedgerRecord) {
  return {
    table: r.table,
    column: r.column,
    pk: r.pk,
    outcome: r.outcome,
    reason: r.reason ?? null,
    detail: r.detail ?? null,
    // A text record's value is a whole page: the page lists the files it references instead.
    value: r.refs ? referencesText(r.refs) : (r.oldValue ?? null),
    attempts: r.attempts,
    finishedAt: r.finishedAt?.toISOString() ?? null,
  };
}

export function batchHandlers(deps: DashboardDeps, enqueueOf: (batchId: number) => { state: string; error: string | null } | undefined = () => undefined) {
  const { ledger } = deps;

  /** GET /api/batches — the newest batches (`?limit=`, 20 by default), each as `status --json` prints it. */
  const list: Handler = async (req) => {
    const limit = intParam('limit', req.query.limit, { fallback: 20, max: 200 });
    const batches = await ledger.batches.list(limit);
    return ok({ batches: await Promise.all(batches.map((b) => batchStatus(ledger, b))) });
  };

  /** GET /api/batches/:id — exactly what `media-migrate status --batch ID --json` prints (`latest` works too). */
  const get: Handler = async (req) => ok(await batchStatus(ledger, await findBatch(ledger, req.params.id)));

  /** GET /api/overview?batch=ID — the figures, the pace and ETA, the queue and its workers: what the page polls. */
  const summary: Handler = async (req) => ok(await overview(ledger, deps.queue, req.query.batch, () => listWorkers(deps.redis, deps.prefix), enqueueOf));

  /** GET /api/batches/:id/records?outcome=failed&page=1&per_page=25 — one page of records with one outcome. */
  const records: Handler = async (req) => {
    const batch = await findBatch(ledger, req.params.id);
    const outcome = outcomeParam(req.query.outcome);
    const perPage = intParam('per_page', req.query.per_page, { fallback: 25, max: 200 });
    const page = intParam('page', req.query.page, { fallback: 1 });
    const key = countKey(outcome);
    const total = key ? (await ledger.counts.total(batch.id))[key] : 0;
    const rows = await ledger.records.list(batch.id, { outcome, limit: perPage, offset: (page - 1) * perPage });
    return ok({
      batch: batch.id,
      outcome,
      total,
      page,
      perPage,
      pages: Math.max(1, Math.ceil(total / perPage)),
      records: rows.map(recordView),
    });
  };

  /** GET /api/batches/:id/records.csv?outcome=failed — every such record, streamed as CSV. */
  const csv: Handler = async (req) => {
    const batch = await findBatch(ledger, req.params.id);
    const outcome = outcomeParam(req.query.outcome);
    return { status: HttpStatus.ok, csv: reportCsv(deps.ledger, batch.id, outcome), filename: `media-migrate-batch-${batch.id}-${outcome}.csv` };
  };

  /** GET /api/batches/:id/reasons?outcome=failed — how many records ended with each reason, the most frequent first. */
  const reasons: Handler = async (req) => {
    const batch = await findBatch(ledger, req.params.id);
    const outcome = outcomeParam(req.query.outcome);
    return ok({ batch: batch.id, outcome, reasons: await ledger.counts.byReason(batch.id, outcome) });
  };

  return { list, get, summary, records, csv, reasons };
}
