/**
 * The vocabulary every part of the tool shares: the ledger stores these strings, the CLI prints them,
 * the dashboard and the metrics group by them. Change a name here and it changes everywhere.
 */
export const Outcome = {
  pending: 'pending',
  migrated: 'migrated',
  missing: 'missing',
  skipped: 'skipped',
  failed: 'failed',
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];
export type FinalOutcome = Exclude<Outcome, 'pending'>;

export const FINAL_OUTCOMES: readonly FinalOutcome[] = ['migrated', 'missing', 'skipped', 'failed'];

/** Why a record ended where it did. Grouped by the outcome they belong to. */
export const Reason = {
  // migrated
  uploaded: 'uploaded',
  reused: 'reused', // the deterministic public_id already existed with the same bytes
  wouldMigrate: 'would_migrate', // dry run
  // skipped
  empty: 'empty',
  remoteUrl: 'remote_url',
  cloudinaryId: 'cloudinary_id', // already a public_id the storage class wrote (a new upload after the switch)
  alreadyMigrated: 'already_migrated',
  changed: 'changed',
  rowDeleted: 'row_deleted',
  cancelled: 'cancelled', // its batch was rolled back before the record ran
  // missing
  notFound: 'not_found',
  // failed, permanent
  unsafePath: 'unsafe_path',
  emptyFile: 'empty_file',
  notAnImage: 'not_an_image',
  tooLarge: 'too_large',
  tooLong: 'too_long',
  cloudinaryRejected: 'cloudinary_rejected',
  etagMismatch: 'etag_mismatch',
  unknownSource: 'unknown_source',
  // failed, transient errors that ran out of attempts
  retriesExhausted: 'retries_exhausted',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

export interface Counts {
  total: number;
  migrated: number;
  missing: number;
  skipped: number;
  failed: number;
  pending: number;
}

export function emptyCounts(): Counts {
  return { total: 0, migrated: 0, missing: 0, skipped: 0, failed: 0, pending: 0 };
}

/** The line the old one-off script printed, plus failures. Scripts grep for it: keep its shape. */
export function summaryLine(c: Counts, opts: { dryRun?: boolean } = {}): string {
  const head = c.failed > 0 ? '✖ DONE' : '✔ DONE';
  const label = opts.dryRun ? ' (dry run: nothing uploaded or written)' : '';
  return `${head} | Migrated=${c.migrated} | Missing=${c.missing} | Skipped=${c.skipped} | Failed=${c.failed}${label}`;
}
