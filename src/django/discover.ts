import type { Knex } from 'knex';
import { BATCHES, MIGRATIONS_TABLE, RECORDS } from '../ledger/migrations.ts';
import { describeTables, listTables } from '../db/schema.ts';
import type { ResourceType, Source } from '../config/sources.ts';
import { inspectFilePaths } from './file-column.ts';
import { sampleHasReferences, scanTextColumn, type ReferenceSettings, type TextColumnFindings } from './text-column.ts';

/** What `discover` learned about one text column. */
export interface ColumnReport {
  /** `file`: its values are paths (a FileField); `text`: media URLs inside its text. */
  kind: 'file' | 'text';
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
  /** A file column: sampled values shaped like a relative file path, of any type. */
  filePaths?: number;
  /** A file column: the storage class's type that serves most of it (RawMediaCloudinaryStorage for PDFs). */
  resourceType?: ResourceType;
  /** A file column: sampled paths per type; more than one means the column mixes types. */
  types?: Partial<Record<ResourceType, number>>;
  /** Sampled values a storage of `resourceType` would not serve (files of another type). */
  notServed?: string[];
  /** A text column: its rows that reference files under MEDIA_URL / MEDIA_ORIGINS, read in full. */
  text?: TextColumnFindings;
}

export interface Discovery {
  sources: Source[];
  discovered: ColumnReport[];
}

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
export interface DiscoverOptions {
  mediaRoot?: string | undefined;
  sample: number;
  /** MEDIA_URL's path and MEDIA_ORIGINS: which URLs inside text are ours. */
  references?: ReferenceSettings | undefined;
}

export async function discoverSources(db: Knex, opts: DiscoverOptions): Promise<Discovery> {
  const all = await listTables(db);
  const tables = new Set(all);
  const models = await djangoModels(db, tables);
  const candidates = all.filter((t) => !isInternal(t) && t !== BATCHES && t !== RECORDS && t !== MIGRATIONS_TABLE);
  const discovered: ColumnReport[] = [];
  const described = await describeTables(db, candidates);
  for (const table of candidates) {
    const info = described.get(table);
    if (!info) continue;
    const pk = info.uniqueColumns.has('id') ? 'id' : [...info.uniqueColumns][0];
    if (!pk) continue; // without a unique key, no record can be addressed safely
    for (const col of info.columns.values()) {
      if (!TEXT.test(col.dataType) || col.name === pk) continue;
      discovered.push(await inspectColumn(db, { table, column: col.name, pk }, models.has(table), opts));
    }
  }
  return {
    sources: discovered.filter((d) => d.proposed).map(proposal),
    discovered,
  };
}

async function inspectColumn(
  db: Knex,
  s: Source,
  djangoModel: boolean,
  opts: DiscoverOptions,
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
  const base = { ...s, djangoModel, rows, empty, sampled: values.length };
  const files = await inspectFilePaths(values, opts.mediaRoot);
  if (files.filePaths > 0 && files.filePaths * 2 >= values.length) {
    const { filePaths, imagePaths, filesFound, types, resourceType, notServed } = files;
    return { ...base, kind: 'file', imagePaths, filesFound, proposed: true, filePaths, resourceType, types, notServed };
  }
  const settings = opts.references ?? { mediaUrl: '/media/', mediaOrigins: [] };
  if (sampleHasReferences(values, settings)) {
    const text = await scanTextColumn(db, s, settings, opts.mediaRoot);
    return { ...base, kind: 'text', imagePaths: 0, filesFound: text.filesFound, proposed: text.rowsWithReferences > 0, text };
  }
  return { ...base, kind: 'file', imagePaths: files.imagePaths, filesFound: files.filesFound, proposed: false };
}

/** The sources entry for a proposed column: the defaults (`image`, `file`) left out. */
function proposal(d: ColumnReport): Source {
  return {
    table: d.table,
    column: d.column,
    pk: d.pk,
    ...(d.kind === 'text' ? { kind: 'text' as const } : {}),
    ...(d.kind === 'file' && d.resourceType && d.resourceType !== 'image' ? { resourceType: d.resourceType } : {}),
  };
}
