import type { Knex } from 'knex';
import { BATCHES, MIGRATIONS_TABLE, RECORDS } from '../ledger/migrations.ts';
import { resolveInside } from '../media/media-file.ts';
import { describeTable, listTables } from '../db/schema.ts';
import type { Source } from '../config/sources.ts';
import { isRemoteUrl } from '../cloudinary/storage-convention.ts';

/** What `discover` learned about one text column. */
export interface ColumnReport {
  table: string;
  column: string;
  pk: string;
  /** True when the table is a model Django knows (django_content_type). */
  djangoModel: boolean;
  rows: number;
  empty: number;
  sampled: number;
  /** Sampled values shaped like a relative image path. */
  imagePaths: number;
  /** Sampled image paths whose file is under MEDIA_ROOT. */
  filesFound: number;
  proposed: boolean;
}

export interface Discovery {
  sources: Source[];
  discovered: ColumnReport[];
}

const IMAGE_PATH = /^(?![\\/])(?!.*(^|\/)\.\.(\/|$)).+\.(jpe?g|png|gif|webp|bmp|tiff?|ico|svg|avif|heic|heif)$/i;
const TEXT = /char|text|string|clob/i;
/**
 * Tables never proposed: Django's own bookkeeping (migrations, sessions, content types, permissions
 * and groups, the admin log, sites, the database cache), the databases' and knex's internals, and
 * our ledger. Only these: a third-party app's tables may begin with `django_` too
 * (`django_summernote_attachment` holds the Summernote editor's uploads in a FileField).
 */
const DJANGO_BOOKKEEPING = new Set([
  'django_migrations',
  'django_session',
  'django_content_type',
  'django_admin_log',
  'django_site',
  'auth_permission',
  'auth_group',
  'auth_group_permissions',
  'auth_user_groups',
  'auth_user_user_permissions',
]);
// `createcachetable` names its table after CACHES' LOCATION; `django_cache` and `django_cache_table` are the usual ones.
const INTERNAL = /^(django_cache(_|$)|sqlite_|knex_|media_migrate_)/;

function isInternal(table: string): boolean {
  return DJANGO_BOOKKEEPING.has(table) || INTERNAL.test(table);
}

export function looksLikeImagePath(value: string): boolean {
  return value.length <= 1_000 && !isRemoteUrl(value) && IMAGE_PATH.test(value.replace(/\\/g, '/'));
}

async function djangoModels(db: Knex, tables: Set<string>): Promise<Set<string>> {
  if (!tables.has('django_content_type')) return new Set();
  const rows = (await db('django_content_type').select('app_label', 'model')) as { app_label: string; model: string }[];
  // Django's default table name: app label, underscore, model name in lower case.
  return new Set(rows.map((r) => `${r.app_label}_${r.model}`.toLowerCase()).filter((t) => tables.has(t)));
}

/**
 * Proposes a sources file for a database nobody described to us: every text column of the app's
 * tables whose values are mostly relative image paths, with row, empty and found-file counts from a
 * sample checked against MEDIA_ROOT. Read-only.
 */
export async function discoverSources(db: Knex, opts: { mediaRoot?: string | undefined; sample: number }): Promise<Discovery> {
  const all = await listTables(db);
  const tables = new Set(all);
  const models = await djangoModels(db, tables);
  const candidates = all.filter((t) => !isInternal(t) && t !== BATCHES && t !== RECORDS && t !== MIGRATIONS_TABLE);
  const discovered: ColumnReport[] = [];
  for (const table of candidates) {
    const info = await describeTable(db, table);
    if (!info) continue;
    const pk = info.uniqueColumns.has('id') ? 'id' : [...info.uniqueColumns][0];
    if (!pk) continue; // without a unique key, no record can be addressed safely
    for (const col of info.columns.values()) {
      if (!TEXT.test(col.dataType) || col.name === pk) continue;
      discovered.push(await inspectColumn(db, { table, column: col.name, pk }, models.has(table), opts));
    }
  }
  return {
    sources: discovered.filter((d) => d.proposed).map((d) => ({ table: d.table, column: d.column, pk: d.pk })),
    discovered,
  };
}

async function inspectColumn(
  db: Knex,
  s: Source,
  djangoModel: boolean,
  opts: { mediaRoot?: string | undefined; sample: number },
): Promise<ColumnReport> {
  const counted = (await db(s.table).select(
    db.raw('count(*) as n_rows'),
    db.raw('sum(case when ?? is null or ?? = ? then 1 else 0 end) as n_empty', [s.column, s.column, '']),
  )) as { n_rows: number | string; n_empty: number | string | null }[];
  const rows = Number(counted[0]?.n_rows ?? 0);
  const empty = Number(counted[0]?.n_empty ?? 0);
  const sample = (await db(s.table)
    .select(s.column)
    .whereNotNull(s.column)
    .whereNot(s.column, '')
    .orderBy(s.pk)
    .limit(opts.sample)) as Record<string, unknown>[];
  const values = sample.map((r) => String(r[s.column]));
  const paths = values.filter(looksLikeImagePath);
  let filesFound = 0;
  if (opts.mediaRoot) {
    for (const v of paths) {
      try {
        if (await resolveInside(opts.mediaRoot, v)) filesFound++;
      } catch {
        // an unsafe path is not a found file
      }
    }
  }
  return {
    ...s,
    djangoModel,
    rows,
    empty,
    sampled: values.length,
    imagePaths: paths.length,
    filesFound,
    proposed: paths.length > 0 && paths.length * 2 >= values.length,
  };
}
