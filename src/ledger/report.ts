import type { Ledger, LedgerRecord } from './ledger.ts';
import type { Outcome } from '../outcomes.ts';

/**
 * One record as an export shows it: `report --format csv|json` and the dashboard's CSV downloads
 * share these columns, so a file from either opens the same way.
 */
export const REPORT_COLUMNS = [
  'batch',
  'table',
  'column',
  'pk',
  'outcome',
  'reason',
  'detail',
  'old_value',
  'new_value',
  'public_id',
  'etag',
  'bytes',
  'attempts',
  'finished_at',
  'rolled_back_at',
  // A text record's files, each with what became of it: `uploads/a.jpg=rewritten; uploads/b.png=missing`.
  'references',
] as const;

export type ReportRow = Record<(typeof REPORT_COLUMNS)[number], string | number | null>;

export function reportRow(r: LedgerRecord): ReportRow {
  return {
    batch: r.batchId,
    table: r.table,
    column: r.column,
    pk: r.pk,
    outcome: r.outcome,
    reason: r.reason ?? null,
    detail: r.detail ?? null,
    old_value: r.oldValue ?? null,
    new_value: r.newValue ?? null,
    public_id: r.publicId ?? null,
    etag: r.etag ?? null,
    bytes: r.bytes ?? null,
    attempts: r.attempts,
    finished_at: r.finishedAt?.toISOString() ?? null,
    rolled_back_at: r.rolledBackAt?.toISOString() ?? null,
    references: r.refs ? (JSON.parse(r.refs) as { name: string; state: string }[]).map((x) => `${x.name}=${x.state}`).join('; ') : null,
  };
}

/** Columns whose text comes from rows or messages, not from us: a spreadsheet must not run it. */
const FREE_TEXT = new Set(['detail', 'old_value', 'new_value', 'references']);

/** RFC 4180 quoting; free text that a spreadsheet would run as a formula is defused with a quote. */
export function csvCell(v: string | number | null, freeText = false): string {
  let s = v == null ? '' : String(v);
  if (freeText && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Every record of a batch (of one outcome, if given) as CSV lines, header first, a page at a time. */
export async function* reportCsv(ledger: Ledger, batchId: number, outcome?: Outcome): AsyncGenerator<string> {
  yield `${REPORT_COLUMNS.join(',')}\r\n`;
  for await (const r of ledger.records.each(batchId, outcome)) {
    const row = reportRow(r);
    yield REPORT_COLUMNS.map((c) => csvCell(row[c], FREE_TEXT.has(c))).join(',') + '\r\n';
  }
}

/** The same as one JSON array, streamed: valid JSON whatever the batch's size. */
export async function* reportJson(ledger: Ledger, batchId: number, outcome?: Outcome): AsyncGenerator<string> {
  let first = true;
  yield '[';
  for await (const r of ledger.records.each(batchId, outcome)) {
    yield `${first ? '\n' : ',\n'}${JSON.stringify(reportRow(r))}`;
    first = false;
  }
  yield first ? ']\n' : '\n]\n';
}
