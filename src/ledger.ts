import type { Knex } from 'knex';
import { claimSqliteWriteLock, dialectOf } from './db.ts';
import { BATCHES, CLAIMS, RECORDS, migrateLedger } from './ledger-migrations.ts';
import { addCount, emptyCounts, type Counts, type FinalOutcome, Outcome, Reason } from './outcomes.ts';
import type { CheckedSource, Source } from './sources.ts';
import type { StoreMode } from './storage-convention.ts';
import type { MediaFingerprint } from './media-fingerprint.ts';
import { isScoped, type BatchScope } from './scope.ts';

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
  updatedAt: Date;
  finishedAt: Date | undefined;
  rolledBackAt: Date | undefined;
}

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
}

export interface SourceCounts extends Counts {
  table: string;
  column: string;
}

type Row = Record<string, unknown>;

const date = (v: unknown): Date | undefined => (v == null ? undefined : v instanceof Date ? v : new Date(String(v).replace(' ', 'T') + (String(v).includes('Z') || /[+-]\d\d:?\d\d$/.test(String(v)) ? '' : 'Z')));
const str = (v: unknown): string | undefined => (v == null ? undefined : String(v));
const num = (v: unknown): number | undefined => (v == null ? undefined : Number(v));

function toBatch(r: Row): Batch {
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

function toRecord(r: Row): LedgerRecord {
  return {
    id: Number(r.id),
    batchId: Number(r.batch_id),
    table: String(r.source_table),
    column: String(r.source_column),
    pk: String(r.pk),
    outcome: String(r.outcome) as Outcome,
    reason: str(r.reason) as Reason | undefined,
    detail: str(r.detail),
    oldValue: str(r.old_value),
    newValue: str(r.new_value),
    publicId: str(r.public_id),
    etag: str(r.etag),
    bytes: num(r.bytes),
    attempts: Number(r.attempts ?? 0),
    priority: Number(r.priority ?? 0),
    tagged: r.tagged == null ? undefined : Boolean(r.tagged),
    updatedAt: date(r.updated_at)!,
    finishedAt: date(r.finished_at),
    rolledBackAt: date(r.rolled_back_at),
  };
}

/** An empty scope is stored as NULL, like the batches from before scopes existed. */
function scopeColumn(scope: BatchScope | undefined): string | null {
  return scope && isScoped(scope) ? JSON.stringify(scope) : null;
}

/** Outcomes a new attempt may overwrite. Anything else is final and a replayed job must keep it. */
const OPEN = [Outcome.pending, Outcome.failed];

/** A time as a query parameter that compares correctly with the dialect's stored timestamps. */
function timeParam(db: Knex, d: Date): Date | string {
  // SQLite keeps CURRENT_TIMESTAMP as 'YYYY-MM-DD HH:MM:SS' text in UTC; a bound Date would be a number.
  return dialectOf(db) === 'sqlite' ? d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '') : d;
}

/** Upload times of one batch in histogram form: cumulative counts at each bound, plus count and sum. */
export interface LatencyBuckets {
  /** `cumulative[i]` = records whose upload took at most `boundsMs[i]`. */
  cumulative: number[];
  count: number;
  sumMs: number;
}

export class Ledger {
  constructor(readonly db: Knex) {}

  migrate(): Promise<void> {
    return migrateLedger(this.db);
  }

  async createBatch(spec: BatchSpec, extra: { stageBatchId?: number | undefined } = {}): Promise<Batch> {
    const [row] = await this.db(BATCHES)
      .insert({
        kind: spec.kind,
        stage_batch_id: extra.stageBatchId ?? null,
        scope: scopeColumn(spec.scope),
        sources: JSON.stringify(spec.sources),
        claim_sources: spec.claimSources ? JSON.stringify(spec.claimSources) : null,
        store: spec.store,
        dry_run: spec.dryRun,
        prefix: spec.prefix,
        tag: spec.tag,
      })
      .returning('*');
    // MySQL has no RETURNING: knex then hands back the new id instead of the row.
    if (row && typeof row === 'object') return toBatch(row as Row);
    const batch = await this.getBatch(Number(row));
    if (!batch) throw new Error('batch vanished right after insert');
    return batch;
  }

  async getBatch(id: number): Promise<Batch | undefined> {
    const r = await this.db(BATCHES).where({ id }).first();
    return r ? toBatch(r) : undefined;
  }

  async latestBatch(): Promise<Batch | undefined> {
    const r = await this.db(BATCHES).orderBy('id', 'desc').first();
    return r ? toBatch(r) : undefined;
  }

  async listBatches(limit = 50): Promise<Batch[]> {
    const rows = await this.db(BATCHES).orderBy('id', 'desc').limit(limit);
    return rows.map(toBatch);
  }

  /**
   * The newest batch with the same settings that is not finished: running `migrate` again resumes it
   * rather than starting over. A batch is unfinished while its scan is incomplete or a record is pending.
   */
  async findResumable(spec: BatchSpec): Promise<Batch | undefined> {
    const scope = scopeColumn(spec.scope);
    const rows = await this.db(BATCHES)
      .where({ kind: spec.kind, store: spec.store, dry_run: spec.dryRun, prefix: spec.prefix, tag: spec.tag, sources: JSON.stringify(spec.sources) })
      .andWhere((w) => (scope === null ? w.whereNull('scope') : w.where('scope', scope)))
      .whereNull('rolled_back_at')
      .orderBy('id', 'desc')
      .limit(1);
    const b = rows[0] ? toBatch(rows[0]) : undefined;
    if (!b) return undefined;
    if (!b.enqueuedAt) return b;
    return (await this.hasPending(b.id)) ? b : undefined;
  }

  /** The newest stage batch that still stands (not rolled back) for this prefix: what a migrate batch rewrites. */
  async latestStageBatch(prefix: string): Promise<Batch | undefined> {
    const r = await this.db(BATCHES).where({ kind: 'stage', prefix, dry_run: false }).whereNull('rolled_back_at').orderBy('id', 'desc').first();
    return r ? toBatch(r) : undefined;
  }

  async setFingerprint(batchId: number, fingerprint: MediaFingerprint): Promise<void> {
    await this.db(BATCHES).where({ id: batchId }).update({ fingerprint: JSON.stringify(fingerprint) });
  }

  async markEnqueued(batchId: number): Promise<void> {
    await this.db(BATCHES).where({ id: batchId }).update({ enqueued_at: this.db.fn.now() });
  }

  async halt(batchId: number, reason: string): Promise<void> {
    await this.db(BATCHES).where({ id: batchId }).update({ halted_reason: reason });
  }

  async clearHalt(batchId: number): Promise<void> {
    await this.db(BATCHES).where({ id: batchId }).update({ halted_reason: null });
  }

  /**
   * Idempotent: records already in the ledger for this batch are left as they are. `priority` orders
   * the queue: records of priority 0 are queued before those of priority 1.
   */
  async addPending(batchId: number, source: Source, pks: readonly string[], priority = 0): Promise<void> {
    if (pks.length === 0) return;
    if (dialectOf(this.db) === 'pg') {
      // One array parameter instead of four per row: no 4,000-placeholder statement to build and
      // parse for a page of 1,000 (measured: ~40k -> ~56k rows/s, a quarter less PostgreSQL CPU).
      await this.db.raw(
        `insert into ?? (batch_id, source_table, source_column, priority, pk) select ?, ?, ?, ?, unnest(?::text[])
         on conflict (batch_id, source_table, source_column, pk) do nothing`,
        [RECORDS, batchId, source.table, source.column, priority, [...pks]],
      );
      return;
    }
    await this.insertIgnoring(pks.map((pk) => ({ batch_id: batchId, source_table: source.table, source_column: source.column, priority, pk })));
  }

  /**
   * As addPending, noting each record's value and in-place id as the scan saw them: a stage batch's
   * records know from the start which others claim the same id.
   */
  async addPendingClaims(batchId: number, source: Source, rows: readonly { pk: string; value: string | null; publicId: string | null }[]): Promise<void> {
    if (rows.length === 0) return;
    if (dialectOf(this.db) === 'pg') {
      await this.db.raw(
        `insert into ?? (batch_id, source_table, source_column, pk, old_value, public_id)
         select ?, ?, ?, * from unnest(?::text[], ?::text[], ?::text[])
         on conflict (batch_id, source_table, source_column, pk) do nothing`,
        // Arrays with NULLs in them: pg sends them as they are; knex's types only know string[].
        [RECORDS, batchId, source.table, source.column, rows.map((r) => r.pk), rows.map((r) => r.value) as string[], rows.map((r) => r.publicId) as string[]],
      );
      return;
    }
    await this.insertIgnoring(rows.map((r) => ({ batch_id: batchId, source_table: source.table, source_column: source.column, pk: r.pk, old_value: r.value, public_id: r.publicId })));
  }

  /**
   * Inserts ledger rows, leaving those the batch has. knex writes a multi-row insert on SQLite as one
   * compound SELECT, which SQLite caps at 500 terms: a page of 1,000 goes in 250 at a time there.
   */
  private async insertIgnoring(rows: Record<string, unknown>[]): Promise<void> {
    const chunk = dialectOf(this.db) === 'sqlite' ? 250 : rows.length;
    for (let i = 0; i < rows.length; i += chunk) {
      await this.db(RECORDS)
        .insert(rows.slice(i, i + chunk))
        .onConflict(['batch_id', 'source_table', 'source_column', 'pk'])
        .ignore();
    }
  }

  async pendingAmong(batchId: number, source: Source, pks: readonly string[]): Promise<Set<string>> {
    if (pks.length === 0) return new Set();
    const q = this.db(RECORDS)
      .where({ batch_id: batchId, source_table: source.table, source_column: source.column, outcome: Outcome.pending })
      .select('pk');
    // PostgreSQL: one array parameter rather than a 1,000-item IN list.
    if (dialectOf(this.db) === 'pg') q.whereRaw('pk = any(?::text[])', [[...pks]]);
    else q.whereIn('pk', [...pks]);
    const rows = await q;
    return new Set(rows.map((r: Row) => String(r.pk)));
  }

  /** Pending records in id order, a page at a time (keyset on id, so memory stays flat); one priority if given. */
  async pendingPage(batchId: number, afterId: number, limit: number, priority?: number): Promise<LedgerRecord[]> {
    const q = this.db(RECORDS).where({ batch_id: batchId, outcome: Outcome.pending });
    if (priority !== undefined) q.andWhere({ priority });
    const rows = await q.andWhere('id', '>', afterId).orderBy('id').limit(limit);
    return rows.map(toRecord);
  }

  /** Pending records after a cursor in queue order (priority, then id): the next page of a batch's window. */
  async pendingAfter(batchId: number, cursor: { priority: number; id: number }, limit: number): Promise<LedgerRecord[]> {
    // A row comparison: the queue-order index seeks straight to the cursor (an OR of the two cases
    // made PostgreSQL read every pending entry before it, ~50 ms a page on a million records).
    const rows = await this.db(RECORDS)
      .where({ batch_id: batchId, outcome: Outcome.pending })
      .andWhereRaw('(priority, id) > (?, ?)', [cursor.priority, cursor.id])
      .orderBy([{ column: 'priority' }, { column: 'id' }])
      .limit(limit);
    return rows.map(toRecord);
  }

  /**
   * Is any record of the batch still pending? The first entry of the queue-order index: cheap enough
   * to ask many times a second. (Without the ORDER BY, PostgreSQL expects pending rows everywhere and
   * scans the table for one: 30+ ms on a million records, a core's worth at this rate.)
   */
  async hasPending(batchId: number): Promise<boolean> {
    return Boolean(await this.db(RECORDS).where({ batch_id: batchId, outcome: Outcome.pending }).orderBy([{ column: 'priority' }, { column: 'id' }]).first('id'));
  }

  /** Has any record of the batch been attempted or ended? (A batch whose window is new has none.) */
  async hasProgress(batchId: number): Promise<boolean> {
    const r = await this.db(RECORDS)
      .where({ batch_id: batchId })
      .andWhere((w) => w.where('attempts', '>', 0).orWhereNot('outcome', Outcome.pending))
      .first('id');
    return Boolean(r);
  }

  /** Batches whose records are being worked: fully recorded, not rolled back or halted, something pending. */
  async openBatches(limit = 20): Promise<Batch[]> {
    // Every process asks each second: one seek per candidate batch, rather than an EXISTS that
    // PostgreSQL answers with a scan of the records.
    const rows = await this.db(BATCHES).whereNotNull('enqueued_at').whereNull('rolled_back_at').whereNull('halted_reason').orderBy('id', 'desc').limit(200);
    const open: Batch[] = [];
    for (const r of rows) {
      if (open.length >= limit) break;
      const b = toBatch(r);
      if (await this.hasPending(b.id)) open.push(b);
    }
    return open;
  }

  async getRecord(ref: RecordRef, db: Knex = this.db): Promise<LedgerRecord | undefined> {
    const r = await db(RECORDS)
      .where({ batch_id: ref.batchId, source_table: ref.table, source_column: ref.column, pk: ref.pk })
      .first();
    return r ? toRecord(r) : undefined;
  }

  /**
   * Notes an attempt before the upload, with the public_id it will create: if the process dies right
   * after the upload, the asset is still known, and nobody deletes it as an orphan while we work.
   */
  async noteAttempt(id: number, fields: { publicId?: string; oldValue?: string; detail?: string; etag?: string; bytes?: number }): Promise<void> {
    await this.db(RECORDS)
      .where({ id })
      .whereIn('outcome', OPEN)
      .update({
        ...(fields.publicId !== undefined ? { public_id: fields.publicId } : {}),
        ...(fields.etag !== undefined ? { etag: fields.etag } : {}),
        ...(fields.bytes !== undefined ? { bytes: fields.bytes } : {}),
        ...(fields.oldValue !== undefined ? { old_value: fields.oldValue } : {}),
        ...(fields.detail !== undefined ? { detail: fields.detail } : {}),
        attempts: this.db.raw('attempts + 1'),
        updated_at: this.db.fn.now(),
      });
  }

  /**
   * The ledger row together with what the app's row holds now, in one round trip: the source's
   * columns come from subqueries by primary key, so `exists` tells a deleted row from a NULL value.
   */
  async getRecordWithRow(
    ref: RecordRef,
    source: Source,
  ): Promise<{ record: LedgerRecord; row: { exists: boolean; value: string | undefined } } | undefined> {
    const app = () => this.db(source.table).where(source.pk, ref.pk);
    const r = (await this.db(RECORDS)
      .where({ batch_id: ref.batchId, source_table: ref.table, source_column: ref.column, pk: ref.pk })
      .select(`${RECORDS}.*`, app().select(source.pk).as('mm_row_pk'), app().select(source.column).as('mm_row_value'))
      .first()) as Row | undefined;
    if (!r) return undefined;
    return {
      record: toRecord(r),
      row: { exists: r.mm_row_pk != null, value: r.mm_row_value == null ? undefined : String(r.mm_row_value) },
    };
  }

  /** A failed record that runs again (retry-failed, bull-board's retry) counts as pending meanwhile. */
  async reopen(id: number): Promise<void> {
    await this.db(RECORDS)
      .where({ id, outcome: Outcome.failed })
      .update({ outcome: Outcome.pending, finished_at: null, updated_at: this.db.fn.now() });
  }

  /**
   * Writes a final outcome unless another run already did; returns whether this call wrote it.
   * `evenIfDecided` rewrites an outcome this same transaction has just claimed.
   */
  async finish(db: Knex, id: number, f: Finish, opts: { evenIfDecided?: boolean } = {}): Promise<boolean> {
    const q = db(RECORDS).where({ id });
    if (!opts.evenIfDecided) q.whereIn('outcome', OPEN);
    const n = await q.update({
        outcome: f.outcome,
        reason: f.reason,
        detail: f.detail ?? null,
        ...(f.oldValue !== undefined ? { old_value: f.oldValue } : {}),
        ...(f.newValue !== undefined ? { new_value: f.newValue } : {}),
        ...(f.publicId !== undefined ? { public_id: f.publicId } : {}),
        ...(f.etag !== undefined ? { etag: f.etag } : {}),
        ...(f.bytes !== undefined ? { bytes: f.bytes } : {}),
        ...(f.reused !== undefined ? { reused: f.reused } : {}),
        ...(f.uploadMs !== undefined ? { upload_ms: Math.round(f.uploadMs) } : {}),
        ...(f.tagged !== undefined ? { tagged: f.tagged } : {}),
        updated_at: db.fn.now(),
        finished_at: db.fn.now(),
      });
    return n > 0;
  }

  /** Does this row hold a value an earlier (not rolled back, not dry-run) batch wrote into it? */
  async holdsOurValue(ref: Omit<RecordRef, 'batchId'>, value: string): Promise<boolean> {
    const r = await this.db(`${RECORDS} as r`)
      .join(`${BATCHES} as b`, 'b.id', 'r.batch_id')
      .where({
        'r.source_table': ref.table,
        'r.source_column': ref.column,
        'r.pk': ref.pk,
        'r.outcome': Outcome.migrated,
        'r.new_value': value,
        'b.dry_run': false,
      })
      .whereNull('r.rolled_back_at')
      .first('r.id');
    return Boolean(r);
  }

  /**
   * Is this asset wanted by any other record: one that migrated to it (and was not rolled back), or
   * one still working towards it? Only an asset nobody wants may be deleted.
   */
  async isPublicIdWanted(publicId: string, exceptRecordId?: number): Promise<boolean> {
    const q = this.db(`${RECORDS} as r`)
      .join(`${BATCHES} as b`, 'b.id', 'r.batch_id')
      .where({ 'r.public_id': publicId, 'b.dry_run': false })
      .where((w) =>
        w
          .where((m) => m.where('r.outcome', Outcome.migrated).whereNull('r.rolled_back_at'))
          .orWhere('r.outcome', Outcome.pending)
          // A staged asset serves its rows' old values once the storage is switched.
          .orWhere((m) => m.where('r.outcome', Outcome.staged).whereNull('b.rolled_back_at')),
      );
    if (exceptRecordId !== undefined) q.whereNot('r.id', exceptRecordId);
    return Boolean(await q.first('r.id'));
  }

  // ---- The staged cutover ----

  /** The staged record of a row in a stage batch, if the batch placed its file. */
  async stagedRecord(stageBatchId: number, ref: Omit<RecordRef, 'batchId'>): Promise<LedgerRecord | undefined> {
    const r = await this.db(RECORDS)
      .where({ batch_id: stageBatchId, source_table: ref.table, source_column: ref.column, pk: ref.pk, outcome: Outcome.staged })
      .first();
    return r ? toRecord(r) : undefined;
  }

  /** The value each of these rows had when a stage batch placed its file (rows it placed only). */
  async stagedValues(stageBatchId: number, source: Source, pks: readonly string[]): Promise<Map<string, string>> {
    if (pks.length === 0) return new Map();
    const q = this.db(RECORDS)
      .where({ batch_id: stageBatchId, source_table: source.table, source_column: source.column, outcome: Outcome.staged })
      .select('pk', 'old_value');
    if (dialectOf(this.db) === 'pg') q.whereRaw('pk = any(?::text[])', [[...pks]]);
    else q.whereIn('pk', [...pks]);
    const rows = (await q) as Row[];
    return new Map(rows.map((r) => [String(r.pk), String(r.old_value)]));
  }

  /**
   * Every value that claims this in-place id: the batch's records, then the rows outside its scope
   * (a scoped stage batch) that the producer found claiming it. A handful at most.
   */
  async inPlaceGroup(batchId: number, publicId: string): Promise<InPlaceClaim[]> {
    const rows = await this.db(RECORDS).where({ batch_id: batchId, public_id: publicId }).orderBy('id');
    const outside = (await this.db(CLAIMS).where({ batch_id: batchId, public_id: publicId }).orderBy('id')) as Row[];
    return [
      ...rows.map(toRecord),
      ...outside.map((r) => ({ id: undefined, table: String(r.source_table), column: String(r.source_column), pk: String(r.pk), oldValue: String(r.value) })),
    ];
  }

  /** Which of these in-place ids the batch's records claim, and by which records. */
  async claimsOf(batchId: number, publicIds: readonly string[]): Promise<Map<string, Pick<LedgerRecord, 'table' | 'column' | 'pk'>[]>> {
    const by = new Map<string, Pick<LedgerRecord, 'table' | 'column' | 'pk'>[]>();
    if (publicIds.length === 0) return by;
    const rows = (await this.db(RECORDS)
      .where({ batch_id: batchId })
      .whereIn('public_id', [...new Set(publicIds)])
      .select('public_id', 'source_table', 'source_column', 'pk')) as Row[];
    for (const r of rows) {
      const id = String(r.public_id);
      by.set(id, [...(by.get(id) ?? []), { table: String(r.source_table), column: String(r.source_column), pk: String(r.pk) }]);
    }
    return by;
  }

  /** Notes rows outside a scoped stage batch that claim one of its in-place ids (again is a no-op). */
  async addOutsideClaims(batchId: number, claims: readonly { publicId: string; table: string; column: string; pk: string; value: string }[]): Promise<void> {
    if (claims.length === 0) return;
    await this.db(CLAIMS)
      .insert(claims.map((c) => ({ batch_id: batchId, public_id: c.publicId, source_table: c.table, source_column: c.column, pk: c.pk, value: c.value })))
      .onConflict(['batch_id', 'source_table', 'source_column', 'pk'])
      .ignore();
  }

  /**
   * Notes, whatever the record's outcome by now, that its stage upload created (or replaced) the
   * asset at its id with these bytes: from here on that asset is ours to replace or remove.
   */
  async notePlaced(id: number, etag: string, bytes: number): Promise<void> {
    await this.db(RECORDS).where({ id }).update({ reused: false, etag, bytes, updated_at: this.db.fn.now() });
  }

  /**
   * Did one of our stage batches create the asset at this id with exactly these bytes? Only such an
   * asset is ours to replace or remove; any other is someone else's.
   */
  async placedByUs(publicId: string, etag: string): Promise<boolean> {
    const r = await this.db(`${RECORDS} as r`)
      .join(`${BATCHES} as b`, 'b.id', 'r.batch_id')
      .where({ 'r.public_id': publicId, 'r.etag': etag, 'r.reused': false, 'b.kind': 'stage', 'b.dry_run': false })
      .first('r.id');
    return Boolean(r);
  }

  /** Does a row hold this id because a migrate batch wrote it there (and was not rolled back)? */
  async isRewrittenTo(publicId: string): Promise<boolean> {
    const r = await this.db(`${RECORDS} as r`)
      .join(`${BATCHES} as b`, 'b.id', 'r.batch_id')
      .where({ 'r.public_id': publicId, 'r.outcome': Outcome.migrated, 'b.dry_run': false })
      .whereNot('r.reason', Reason.wouldMigrate)
      .whereNull('r.rolled_back_at')
      .first('r.id');
    return Boolean(r);
  }

  /**
   * What a migrate batch after a stage batch did: rows rewritten to their staged asset (no upload),
   * and the rows that had none, queued first, with how long after the batch began the last of them
   * was rewritten: how long they pointed at nothing once the storage was switched.
   */
  async rewriteFigures(batch: Batch): Promise<{ inPlace: number; rewrittenFirst: number; exposedMs: number | null }> {
    const inPlace = await this.db(RECORDS).where({ batch_id: batch.id, outcome: Outcome.migrated, reason: Reason.inPlace }).count({ n: '*' }).first();
    const first = (await this.db(RECORDS)
      .where({ batch_id: batch.id, outcome: Outcome.migrated, priority: 0 })
      .whereIn('reason', [Reason.uploaded, Reason.reused])
      .select(this.db.raw('count(*) as n'), this.db.raw('max(finished_at) as last'))
      .first()) as Row | undefined;
    const last = date(first?.last);
    return {
      inPlace: Number((inPlace as Row | undefined)?.n ?? 0),
      rewrittenFirst: Number(first?.n ?? 0),
      exposedMs: last ? Math.max(0, last.getTime() - batch.createdAt.getTime()) : null,
    };
  }

  async countReason(batchId: number, outcome: Outcome, reason: Reason): Promise<number> {
    const r = (await this.db(RECORDS).where({ batch_id: batchId, outcome, reason }).count({ n: '*' }).first()) as Row | undefined;
    return Number(r?.n ?? 0);
  }

  /** Migrated records whose asset still waits for MEDIA_TAG, oldest first, finished before `before`. */
  async untagged(limit: number, opts: { batchId?: number; before?: Date } = {}): Promise<LedgerRecord[]> {
    const q = this.db(RECORDS).where({ tagged: false, outcome: Outcome.migrated }).whereNull('rolled_back_at');
    if (opts.batchId !== undefined) q.andWhere({ batch_id: opts.batchId });
    if (opts.before) q.andWhere('finished_at', '<', timeParam(this.db, opts.before));
    return (await q.orderBy('id').limit(limit)).map(toRecord);
  }

  async markTagged(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db(RECORDS).whereIn('id', [...ids]).where({ tagged: false }).update({ tagged: true });
  }

  /** Of these records, the ones rolled back meanwhile (their asset must not keep MEDIA_TAG). */
  async rolledBackAmong(ids: readonly number[]): Promise<LedgerRecord[]> {
    if (ids.length === 0) return [];
    return (await this.db(RECORDS).whereIn('id', [...ids]).whereNotNull('rolled_back_at')).map(toRecord);
  }

  async counts(batchId: number): Promise<Counts> {
    const rows = await this.db(RECORDS).where({ batch_id: batchId }).select('outcome').count({ n: '*' }).groupBy('outcome');
    const c = emptyCounts();
    for (const r of rows as Row[]) addCount(c, String(r.outcome), Number(r.n));
    return c;
  }

  async countsBySource(batchId: number): Promise<SourceCounts[]> {
    const rows = await this.db(RECORDS)
      .where({ batch_id: batchId })
      .select('source_table', 'source_column', 'outcome')
      .count({ n: '*' })
      .groupBy('source_table', 'source_column', 'outcome');
    const by = new Map<string, SourceCounts>();
    for (const r of rows as Row[]) {
      const key = `${r.source_table}.${r.source_column}`;
      let c = by.get(key);
      if (!c) {
        c = { table: String(r.source_table), column: String(r.source_column), ...emptyCounts() };
        by.set(key, c);
      }
      addCount(c, String(r.outcome), Number(r.n));
    }
    return [...by.values()];
  }

  async records(
    batchId: number,
    opts: { outcome?: Outcome; limit?: number; offset?: number; afterId?: number } = {},
  ): Promise<LedgerRecord[]> {
    const q = this.db(RECORDS).where({ batch_id: batchId });
    if (opts.outcome) q.andWhere({ outcome: opts.outcome });
    if (opts.afterId !== undefined) q.andWhere('id', '>', opts.afterId);
    q.orderBy('id');
    if (opts.limit !== undefined) q.limit(opts.limit);
    if (opts.offset !== undefined) q.offset(opts.offset);
    return (await q).map(toRecord);
  }

  /** Puts failed records back to pending and says how many, for `retry-failed`. */
  async reopenFailed(batchId: number): Promise<number> {
    return (await this.reopenWhere(batchId, { outcomes: [Outcome.failed] })).reduce((a, g) => a + g.count, 0);
  }

  /**
   * Puts the records of a batch with these outcomes (and, if given, reasons) back to pending, and
   * says how many of each outcome and reason it reopened.
   */
  async reopenWhere(batchId: number, filter: { outcomes: readonly Outcome[]; reasons?: readonly string[] }): Promise<{ outcome: string; reason: string; count: number }[]> {
    return this.db.transaction(async (trx) => {
      if (dialectOf(trx) === 'sqlite') await claimSqliteWriteLock(trx, BATCHES, { id: batchId });
      const which = (q: Knex.QueryBuilder) => {
        q.where({ batch_id: batchId }).whereIn('outcome', [...filter.outcomes]);
        if (filter.reasons && filter.reasons.length > 0) q.whereIn('reason', [...filter.reasons]);
        return q;
      };
      const groups = (await which(trx(RECORDS)).select('outcome', 'reason').count({ n: '*' }).groupBy('outcome', 'reason')) as Row[];
      if (groups.length === 0) return [];
      await which(trx(RECORDS)).update({ outcome: Outcome.pending, finished_at: null, updated_at: trx.fn.now() });
      return groups.map((g) => ({ outcome: String(g.outcome), reason: String(g.reason ?? ''), count: Number(g.n) }));
    });
  }

  /**
   * Puts these records of a batch back to pending, whatever they ended as, except what is done for
   * good (migrated, staged) or still pending; says how many of each outcome and reason it reopened.
   */
  async reopenListed(batchId: number, refs: readonly { table: string; column: string | undefined; pk: string }[]): Promise<{ outcome: string; reason: string; count: number }[]> {
    if (refs.length === 0) return [];
    const again = [Outcome.failed, Outcome.missing, Outcome.skipped, Outcome.notInPlace];
    const which = (q: Knex.QueryBuilder) =>
      q
        .where({ batch_id: batchId })
        .whereIn('outcome', again)
        .andWhere((w) => {
          for (const r of refs) w.orWhere((x) => x.where({ source_table: r.table, pk: r.pk, ...(r.column ? { source_column: r.column } : {}) }));
        });
    return this.db.transaction(async (trx) => {
      if (dialectOf(trx) === 'sqlite') await claimSqliteWriteLock(trx, BATCHES, { id: batchId });
      const groups = (await which(trx(RECORDS)).select('outcome', 'reason').count({ n: '*' }).groupBy('outcome', 'reason')) as Row[];
      if (groups.length > 0) await which(trx(RECORDS)).update({ outcome: Outcome.pending, finished_at: null, updated_at: trx.fn.now() });
      return groups.map((g) => ({ outcome: String(g.outcome), reason: String(g.reason ?? ''), count: Number(g.n) }));
    });
  }

  /** Puts these missing records of a batch back to pending (a worker that could not see the media marked them). */
  async reopenMissing(batchId: number, refs: readonly Omit<RecordRef, 'batchId'>[]): Promise<number> {
    if (refs.length === 0) return 0;
    return this.db(RECORDS)
      .where({ batch_id: batchId, outcome: Outcome.missing })
      .whereIn(['source_table', 'source_column', 'pk'], refs.map((r) => [r.table, r.column, r.pk]))
      .update({ outcome: Outcome.pending, reason: null, finished_at: null, updated_at: this.db.fn.now() });
  }

  /** How many records of a batch ended with each reason of one outcome, the most frequent first. */
  async reasonCounts(batchId: number, outcome: Outcome): Promise<{ reason: string; count: number }[]> {
    const rows = (await this.db(RECORDS).where({ batch_id: batchId, outcome }).select('reason').count({ n: '*' }).groupBy('reason')) as Row[];
    return rows.map((r) => ({ reason: String(r.reason ?? ''), count: Number(r.n) })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  }

  /** Ends every pending record of a batch as skipped/cancelled; a job that runs later replays that. */
  async cancelPending(batchId: number): Promise<number> {
    return this.db(RECORDS)
      .where({ batch_id: batchId, outcome: Outcome.pending })
      .update({ outcome: Outcome.skipped, reason: 'cancelled', finished_at: this.db.fn.now(), updated_at: this.db.fn.now() });
  }

  async markRolledBack(db: Knex, recordId: number): Promise<void> {
    await db(RECORDS).where({ id: recordId }).update({ rolled_back_at: db.fn.now(), updated_at: db.fn.now() });
  }

  async markBatchRolledBack(batchId: number): Promise<void> {
    await this.db(BATCHES).where({ id: batchId }).update({ rolled_back_at: this.db.fn.now() });
  }

  // ---- Read-only queries for the dashboard and its metrics (portable SQL: no date functions) ----

  /** The database's clock: `finished_at` is written by it, so throughput windows are measured by it. */
  async databaseNow(): Promise<Date> {
    const r = (await this.db.select(this.db.raw('CURRENT_TIMESTAMP as now')).first()) as Row | undefined;
    return date(r?.now) ?? new Date();
  }

  /**
   * How many records of a batch finished in each interval `[edges[i], edges[i+1])` (the last one
   * includes its end), in one query over the (batch_id, finished_at) index.
   */
  async finishedPerInterval(batchId: number, edges: readonly Date[]): Promise<number[]> {
    if (edges.length < 2) return [];
    const t = (d: Date) => timeParam(this.db, d);
    const last = edges.length - 2;
    const sums = edges.slice(0, -1).map((from, i) =>
      this.db.raw(`sum(case when finished_at >= ? and finished_at ${i === last ? '<=' : '<'} ? then 1 else 0 end) as ??`, [
        t(from),
        t(edges[i + 1]!),
        `n${i}`,
      ]),
    );
    const row = (await this.db(RECORDS)
      .where({ batch_id: batchId })
      .andWhere('finished_at', '>=', t(edges[0]!))
      .andWhere('finished_at', '<=', t(edges[edges.length - 1]!))
      .select(sums)
      .first()) as Row | undefined;
    return sums.map((_, i) => Number(row?.[`n${i}`] ?? 0));
  }

  /** How many records of a batch finished since `since`, and when the first of them did. */
  async finishedSince(batchId: number, since: Date): Promise<{ count: number; first: Date | undefined }> {
    const row = (await this.db(RECORDS)
      .where({ batch_id: batchId })
      .andWhere('finished_at', '>=', timeParam(this.db, since))
      .select(this.db.raw('count(*) as n'), this.db.raw('min(finished_at) as first'))
      .first()) as Row | undefined;
    return { count: Number(row?.n ?? 0), first: date(row?.first) };
  }

  /** Upload times (`upload_ms`) of some batches, bucketed at `boundsMs` (ascending), one entry per batch. */
  async uploadLatency(batchIds: readonly number[], boundsMs: readonly number[]): Promise<Map<number, LatencyBuckets>> {
    const out = new Map<number, LatencyBuckets>();
    if (batchIds.length === 0) return out;
    const cols = boundsMs.map((b, i) => this.db.raw('sum(case when upload_ms <= ? then 1 else 0 end) as ??', [b, `le${i}`]));
    const rows = (await this.db(RECORDS)
      .whereIn('batch_id', [...batchIds])
      .whereNotNull('upload_ms')
      .groupBy('batch_id')
      .select('batch_id', this.db.raw('count(*) as n'), this.db.raw('sum(upload_ms) as total'), ...cols)) as Row[];
    for (const r of rows) {
      out.set(Number(r.batch_id), {
        cumulative: boundsMs.map((_, i) => Number(r[`le${i}`] ?? 0)),
        count: Number(r.n ?? 0),
        sumMs: Number(r.total ?? 0),
      });
    }
    return out;
  }

  /** Every record of a batch with one outcome, in id order, read a page at a time (for CSV exports). */
  async *eachRecord(batchId: number, outcome?: Outcome, pageSize = 1_000): AsyncGenerator<LedgerRecord> {
    let after = 0;
    for (;;) {
      const page = await this.records(batchId, { ...(outcome ? { outcome } : {}), afterId: after, limit: pageSize });
      for (const r of page) yield r;
      if (page.length < pageSize) return;
      after = page[page.length - 1]!.id;
    }
  }
}
