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
  // A stage batch's own two: the file now sits at its in-place id, or it cannot (and why).
  staged: 'staged',
  notInPlace: 'not_in_place',
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];
export type FinalOutcome = Exclude<Outcome, 'pending'>;

export const FINAL_OUTCOMES: readonly FinalOutcome[] = ['migrated', 'missing', 'skipped', 'failed', 'staged', 'not_in_place'];

/** Why a record ended where it did. Grouped by the outcome they belong to. */
export const Reason = {
  // migrated
  uploaded: 'uploaded',
  reused: 'reused', // the deterministic public_id already existed with the same bytes
  wouldMigrate: 'would_migrate', // dry run
  inPlace: 'in_place', // the row now holds the asset a stage batch placed at its in-place id: no upload
  // staged (and `uploaded` above)
  existing: 'existing', // the in-place id already held exactly this file
  replaced: 'replaced', // the in-place id held an older version of this file, staged by us: replaced
  // not_in_place
  illegalCharacters: 'illegal_characters',
  whitespace: 'whitespace',
  reservedFolder: 'reserved_folder',
  unknownFormat: 'unknown_format',
  collision: 'collision',
  occupied: 'occupied',
  // skipped
  empty: 'empty',
  noReferences: 'no_references', // a text value that references no file under MEDIA_URL
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
  notAVideo: 'not_a_video', // a video column's file is no video (or audio) container
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
  staged: number;
  notInPlace: number;
}

export function emptyCounts(): Counts {
  return { total: 0, migrated: 0, missing: 0, skipped: 0, failed: 0, pending: 0, staged: 0, notInPlace: 0 };
}

/** The key of `Counts` an outcome is counted under (`not_in_place` is `notInPlace` in JSON). */
export function countKey(outcome: string): Exclude<keyof Counts, 'total'> | undefined {
  switch (outcome) {
    case Outcome.notInPlace:
      return 'notInPlace';
    case Outcome.pending:
    case Outcome.migrated:
    case Outcome.missing:
    case Outcome.skipped:
    case Outcome.failed:
    case Outcome.staged:
      return outcome;
    default:
      return undefined;
  }
}

/** Adds `n` records of `outcome` to `c` (and to its total). */
export function addCount(c: Counts, outcome: string, n: number): void {
  const key = countKey(outcome);
  if (key) c[key] += n;
  c.total += n;
}

export function sumCounts(all: readonly Counts[]): Counts {
  const c = emptyCounts();
  for (const x of all) for (const k of Object.keys(c) as (keyof Counts)[]) c[k] += x[k];
  return c;
}

/**
 * Nothing migrated and every file looked for missing: the mark of a wrong MEDIA_ROOT, never a success.
 * Records skipped because they already point at Cloudinary (`already_migrated`, `cloudinary_id`) are
 * done: a re-run over a migrated library that meets one lost file is not this.
 */
export function nothingFound(c: Counts, opts: { skippedAsMigrated?: number } = {}): boolean {
  return c.migrated === 0 && c.staged === 0 && c.notInPlace === 0 && c.missing > 0 && (opts.skippedAsMigrated ?? 0) === 0;
}

/** The line the old one-off script printed, plus failures. Scripts grep for it: keep its shape. */
export function summaryLine(c: Counts, opts: { dryRun?: boolean; skippedAsMigrated?: number } = {}): string {
  const head = c.failed > 0 || nothingFound(c, opts) ? '✖ DONE' : '✔ DONE';
  const label = opts.dryRun ? ' (dry run: nothing uploaded or written)' : '';
  return `${head} | Migrated=${c.migrated} | Missing=${c.missing} | Skipped=${c.skipped} | Failed=${c.failed}${label}`;
}

/** A stage batch's line, in the same shape; ✖ when a record failed, or nothing was found to stage, as for DONE. */
export function stagedLine(c: Counts): string {
  const head = c.failed > 0 || nothingFound(c) ? '✖ STAGED' : '✔ STAGED';
  return `${head} | Staged=${c.staged} | Not in place=${c.notInPlace} | Missing=${c.missing} | Skipped=${c.skipped} | Failed=${c.failed}`;
}

/**
 * `120000` → `120,000`. Not `toLocaleString('en-US')`: its first call loads ICU's number data,
 * ~20 ms of CPU that `migrate` paid at its first progress line, just as the first uploads were due.
 */
export function thousands(n: number): string {
  const [int = '', frac] = String(n).split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}
