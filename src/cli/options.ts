import { Command, InvalidArgumentError, Option } from 'commander';

/** The options and help texts several commands share, each built fresh per command (commander keeps state on them). */

export const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};

/** One wording of --concurrency for every command that uploads (a new Option each: commander keeps per-command state on it). */
export const concurrencyOption = () =>
  new Option('--concurrency <n>', 'uploads in flight (the process holds a quarter more jobs, so the uploads never wait for the database)')
    .argParser(int('--concurrency'))
    .default(16);

export const ENV_HELP = `
Settings (environment):
  DATABASE_URL      postgres://user:password@host:5432/db (the Django database)
  DATABASE_SCHEMA   PostgreSQL schema of the app's tables (default: the search_path)
  REDIS_URL         redis://127.0.0.1:6379 (default)
  MEDIA_ROOT        the folder Django saved uploads in
  CLOUDINARY_URL    cloudinary://API_KEY:API_SECRET@CLOUD_NAME (or CLOUD_NAME, API_KEY, API_SECRET)
  DJANGO_APP_LABEL  app label of the default models (default: shop)
  MEDIA_PREFIX      django-cloudinary-storage PREFIX (default: media/); MEDIA_TAG (default: media)
  QUEUE_WINDOW      jobs Redis holds at once (default 10000); the ledger holds the rest
  MAX_FILE_BYTES, MAX_VIDEO_BYTES, UPLOAD_TIMEOUT_MS, JOB_ATTEMPTS, RETRY_BACKOFF_MS, QUEUE_PREFIX, LOG_LEVEL

Exit codes: 0 done, nothing failed · 1 some records failed (or a check found a mismatch) ·
2 a setting is wrong or a service is unreachable (the message names which).`;

export const sourcesOpt = () =>
  new Option(
    '--sources <file>',
    'JSON file: {"sources":[{"table":"shop_productimages","column":"image","pk":"id"}]}; an entry may add "resourceType": "raw"|"video" (a FileField of PDFs or videos) or "kind": "text" (media URLs inside HTML, Markdown or JSON)',
  );
export const storeOpt = () =>
  // No commander default: resuming a batch (--batch) must tell a --store given from one left out.
  new Option('--store <mode>', 'what to write into the column: public_id (what django-cloudinary-storage stores; the default) or url').choices(['public_id', 'url']);
export const batchOpt = () => new Option('--batch <id>', 'batch id (see status)').argParser(int('--batch'));
/** Canary and partial batches: the same four options on migrate, enqueue and stage. */
export const scoped = (c: Command) =>
  c
    .addOption(new Option('--limit <n>', 'only the first N records of the batch overall (the sources in order, each by primary key): a canary').argParser(int('--limit')))
    .addOption(
      new Option('--only <table[.column]>', 'only this source (repeatable)').argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]),
    )
    .option('--pk-from <pk>', 'only primary keys from this one on (inclusive)')
    .option('--pk-to <pk>', 'only primary keys up to this one (inclusive)')
    .option('--from <file>', 'only the rows this file lists: report --format csv output (filtered as you like) or table,pk lines');
/** The refusal of a wrong MEDIA_ROOT, and the way past it, on the three commands that record a batch. */
export const allowMissingOpt = () =>
  new Option(
    '--allow-missing',
    'record the batch even when none of its first 20 files is under MEDIA_ROOT (a library that really lost its files); without it such a batch is refused as a wrong MEDIA_ROOT',
  );
export const SCOPE_HELP =
  '\nA scoped batch (--limit, --only, --pk-from/--pk-to, --from) records its scope; status, the dashboard and report show it.\n' +
  'A later batch without one continues with the rest: what the canary migrated is skipped as already_migrated.';

