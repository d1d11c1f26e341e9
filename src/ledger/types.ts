import { resourceTypeOf, type CheckedSource, type ResourceType } from '../config/sources.ts';
import type { BatchScope } from '../config/scope.ts';
import type { Counts, FinalOutcome, Outcome, Reason } from '../outcomes.ts';

/** What a batch writes into each row: the asset's public_id (as the storage class does) or its full URL. */
export type StoreMode = 'public_id' | 'url';
export const STORE_MODES: readonly StoreMode[] = ['public_id', 'url'];

/** A few of a batch's files as MEDIA_ROOT held them when it was enqueued: enough to tell a machine without the media. */
export interface MediaFingerprint {
  files: { path: string; size: number }[];
  /**
   * Set when none of the batch's own first files was under MEDIA_ROOT where it was enqueued: these are
   * an earlier batch's (this one), files the media folder is known to hold, so a worker can still tell.
   */
  from?: number;
}

/**
 * The durable record of a migration, in the app's own database: one row per batch, one row per
 * (batch, table, column, pk). Every count anyone sees comes from here, so it survives losing Redis,
 * and every change to an app row is written in the same transaction as its ledger row.
 */

/**
 * `migrate` batches upload and rewrite rows; `stage` batches place each file at its in-place id and
 * write no app row, so the storage class serves the old values the moment it is switched on.
 */
export type BatchKind = 'migrate' | 'stage';
export const BATCH_KINDS: readonly BatchKind[] = ['migrate', 'stage'];

export interface BatchSpec {
  kind: BatchKind;
  sources: CheckedSource[];
  /** What part of the library the batch covers; empty for all of it. */
  scope?: BatchScope | undefined;
  store: StoreMode;
  dryRun: boolean;
  prefix: string;
  tag: string;
  /**
   * A scoped stage batch: every source configured (not only those `--only` kept), looked through for
   * values outside the scope that claim one of the batch's in-place ids.
   */
  claimSources?: CheckedSource[] | undefined;
}

/** A value that claims an in-place id: a record of the batch, or a row outside a scoped batch's scope (no id). */
export interface InPlaceClaim extends Pick<LedgerRecord, 'table' | 'column' | 'pk' | 'oldValue'> {
  id: number | undefined;
}

export interface Batch extends BatchSpec {
  id: number;
  scope: BatchScope;
  /** A few of the batch's files as MEDIA_ROOT held them at enqueue time (relative path and size). */
  fingerprint: MediaFingerprint | undefined;
  /** For a migrate batch: the stage batch whose placed assets it writes into rows instead of uploading. */
  stageBatchId: number | undefined;
  createdAt: Date;
  enqueuedAt: Date | undefined;
  rolledBackAt: Date | undefined;
  haltedReason: string | undefined;
}

export interface RecordRef {
  batchId: number;
  table: string;
  column: string;
  pk: string;
}

export interface LedgerRecord extends RecordRef {
  id: number;
  outcome: Outcome;
  reason: Reason | undefined;
  detail: string | undefined;
  oldValue: string | undefined;
  newValue: string | undefined;
  publicId: string | undefined;
  etag: string | undefined;
  bytes: number | undefined;
  attempts: number;
  priority: number;
  /** False while the asset still waits for MEDIA_TAG (given only once the row holds its id). */
  tagged: boolean | undefined;
  /** A text record's references as JSON (TextRefState[]): each file, its asset, and what became of it. */
  refs: string | undefined;
  updatedAt: Date;
  finishedAt: Date | undefined;
  rolledBackAt: Date | undefined;
}

/** What handing a record to the queue needs of it: its job, and where the window's cursor goes. */
export type WindowRecord = Pick<LedgerRecord, 'id' | 'batchId' | 'table' | 'column' | 'pk' | 'priority' | 'attempts' | 'updatedAt'>;

export interface Finish {
  outcome: FinalOutcome;
  reason: Reason;
  detail?: string | undefined;
  oldValue?: string | undefined;
  newValue?: string | null | undefined;
  publicId?: string | undefined;
  etag?: string | undefined;
  bytes?: number | undefined;
  reused?: boolean | undefined;
  uploadMs?: number | undefined;
  /** false: the asset still needs MEDIA_TAG; null: it never gets it. */
  tagged?: boolean | null | undefined;
  refs?: string | undefined;
}

export interface SourceCounts extends Counts {
  table: string;
  column: string;
}

/** Upload times of one batch in histogram form: cumulative counts at each bound, plus count and sum. */
export interface LatencyBuckets {
  /** `cumulative[i]` = records whose upload took at most `boundsMs[i]`. */
  cumulative: number[];
  count: number;
  sumMs: number;
}


/** The resource type of a record's column, as its batch recorded the sources (image for one it no longer lists). */
export function sourceType(batch: Pick<Batch, 'sources'>, ref: { table: string; column: string }): ResourceType {
  const source = batch.sources.find((s) => s.table === ref.table && s.column === ref.column);
  return source ? resourceTypeOf(source) : 'image';
}

/** What an attempt notes before its upload: the public_id it will create above all. */
export interface AttemptFields {
  publicId?: string;
  oldValue?: string;
  detail?: string;
  etag?: string;
  bytes?: number;
  refs?: string;
}

/** A ledger record and what its app row holds now (`exists` tells a deleted row from a NULL value). */
export interface WithRow {
  record: LedgerRecord;
  row: { exists: boolean; value: string | undefined };
}
