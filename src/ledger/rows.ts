import type { Knex } from 'knex';
import { dialectOf } from '../db/connect.ts';
import { isScoped, type BatchScope } from '../config/scope.ts';
import { Outcome, type Reason } from '../outcomes.ts';
import type { CheckedSource } from '../config/sources.ts';
import type { Batch, BatchKind, LedgerRecord, MediaFingerprint, StoreMode, WindowRecord } from './types.ts';

/** How the ledger's rows read back into objects, on every dialect (dates as Date, numbers as numbers). */
export type Row = Record<string, unknown>;

export const date = (v: unknown): Date | undefined => (v == null ? undefined : v instanceof Date ? v : new Date(String(v).replace(' ', 'T') + (String(v).includes('Z') || /[+-]\d\d:?\d\d$/.test(String(v)) ? '' : 'Z')));
const str = (v: unknown): string | undefined => (v == null ? undefined : String(v));
const num = (v: unknown): number | undefined => (v == null ? undefined : Number(v));

export function toBatch(r: Row): Batch {
  return {
    id: Number(r.id),
    kind: (r.kind === 'stage' ? 'stage' : 'migrate') as BatchKind,
    stageBatchId: num(r.stage_batch_id),
    createdAt: date(r.created_at)!,
    enqueuedAt: date(r.enqueued_at),
    rolledBackAt: date(r.rolled_back_at),
    haltedReason: str(r.halted_reason),
    sources: JSON.parse(String(r.sources)) as CheckedSource[],
    scope: r.scope ? (JSON.parse(String(r.scope)) as BatchScope) : {},
    fingerprint: r.fingerprint ? (JSON.parse(String(r.fingerprint)) as MediaFingerprint) : undefined,
    claimSources: r.claim_sources ? (JSON.parse(String(r.claim_sources)) as CheckedSource[]) : undefined,
    store: String(r.store) as StoreMode,
    dryRun: Boolean(r.dry_run),
    prefix: String(r.prefix),
    tag: String(r.tag),
  };
}

/** The columns a window record is read from (a job and the window's cursor need no more). */
export const WINDOW_COLUMNS = ['id', 'batch_id', 'source_table', 'source_column', 'pk', 'priority', 'attempts', 'updated_at'] as const;

export function toWindowRecord(r: Row): WindowRecord {
  return {
    id: Number(r.id),
    batchId: Number(r.batch_id),
    table: String(r.source_table),
    column: String(r.source_column),
    pk: String(r.pk),
    priority: Number(r.priority ?? 0),
    attempts: Number(r.attempts ?? 0),
    updatedAt: date(r.updated_at)!,
  };
}

export function toRecord(r: Row): LedgerRecord {
  // Not `{ ...toWindowRecord(r), outcome, … }`: Node 20's V8 gives an object a new shape for each
  // property added after a spread, ~1.5 µs apiece (20 µs a record here, read for every job).
  return Object.assign(toWindowRecord(r), {
    outcome: String(r.outcome) as Outcome,
    reason: str(r.reason) as Reason | undefined,
    detail: str(r.detail),
    oldValue: str(r.old_value),
    newValue: str(r.new_value),
    publicId: str(r.public_id),
    etag: str(r.etag),
    bytes: num(r.bytes),
    tagged: r.tagged == null ? undefined : Boolean(r.tagged),
    refs: str(r.refs),
    finishedAt: date(r.finished_at),
    rolledBackAt: date(r.rolled_back_at),
  });
}

/** An empty scope is stored as NULL, like the batches from before scopes existed. */
export function scopeColumn(scope: BatchScope | undefined): string | null {
  return scope && isScoped(scope) ? JSON.stringify(scope) : null;
}

/** Outcomes a new attempt may overwrite. Anything else is final and a replayed job must keep it. */
export const OPEN = [Outcome.pending, Outcome.failed];

/** A time as a query parameter that compares correctly with the dialect's stored timestamps. */
export function timeParam(db: Knex, d: Date): Date | string {
  // SQLite keeps CURRENT_TIMESTAMP as 'YYYY-MM-DD HH:MM:SS' text in UTC; a bound Date would be a number.
  return dialectOf(db) === 'sqlite' ? d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '') : d;
}

