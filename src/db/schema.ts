import type { Knex } from 'knex';
import { dialectOf } from './connect.ts';

/**
 * What the live database says about a table, read from its catalog. Sources are checked against this
 * before anything is enqueued, and every identifier we later hand to knex is one found here.
 */
export interface ColumnInfo {
  name: string;
  dataType: string;
  /** varchar(n): n. Undefined for unbounded text. */
  maxLength: number | undefined;
  nullable: boolean;
}

export interface TableInfo {
  name: string;
  columns: Map<string, ColumnInfo>;
  /** Columns that alone carry a primary key or unique constraint. */
  uniqueColumns: Set<string>;
}

export async function listTables(db: Knex): Promise<string[]> {
  switch (dialectOf(db)) {
    case 'pg': {
      const r = await db.raw(
        "select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1",
      );
      return (r.rows as { name: string }[]).map((x) => x.name);
    }
    case 'mysql': {
      const [rows] = await db.raw(
        "select table_name as name from information_schema.tables where table_schema = database() and table_type = 'BASE TABLE' order by 1",
      );
      return (rows as { name: string }[]).map((x) => x.name);
    }
    case 'sqlite': {
      const rows = (await db.raw(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by 1",
      )) as { name: string }[];
      return rows.map((x) => x.name);
    }
  }
}

/**
 * Several tables at once: two catalog queries for all of them on PostgreSQL and MySQL, not two per
 * table one after the other (a command checking twenty sources waited for forty round trips before
 * its first record). A table that does not exist maps to undefined.
 */
export async function describeTables(db: Knex, tables: readonly string[]): Promise<Map<string, TableInfo | undefined>> {
  const names = [...new Set(tables)];
  const found = new Map<string, TableInfo | undefined>(names.map((t) => [t, undefined]));
  if (names.length === 0) return found;
  const dialect = dialectOf(db);
  if (dialect === 'sqlite') {
    for (const t of names) found.set(t, await describeSqlite(db, t));
    return found;
  }
  const { columns, unique } = dialect === 'pg' ? await catalogPg(db, names) : await catalogMysql(db, names);
  for (const c of columns) {
    const info = found.get(c.table) ?? { name: c.table, columns: new Map<string, ColumnInfo>(), uniqueColumns: new Set<string>() };
    info.columns.set(c.name, { name: c.name, dataType: c.type, maxLength: c.max === null ? undefined : Number(c.max), nullable: c.nullable === 'YES' });
    found.set(c.table, info);
  }
  for (const u of unique) found.get(u.table)?.uniqueColumns.add(u.name);
  return found;
}

interface CatalogColumn {
  table: string;
  name: string;
  type: string;
  max: number | string | null;
  nullable: string;
}

async function catalogPg(db: Knex, tables: string[]): Promise<{ columns: CatalogColumn[]; unique: { table: string; name: string }[] }> {
  // One after the other on one connection: at a command's start a second query at once would wait
  // for a new connection, dearer than the round trip it saves.
  const cols = await db.raw(
    `select table_name as "table", column_name as name, data_type as type, character_maximum_length as max, is_nullable as nullable
       from information_schema.columns
      where table_schema = current_schema() and table_name = any(?::text[])
      order by table_name, ordinal_position`,
    [tables],
  );
  const uniq = await db.raw(
    `select c.relname as "table", a.attname as name
       from pg_index i
       join pg_class c on c.oid = i.indrelid
       join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = c.oid and a.attnum = i.indkey[0]
      where n.nspname = current_schema() and c.relname = any(?::text[]) and i.indisunique and i.indnkeyatts = 1
        and i.indpred is null`,
    [tables],
  );
  return { columns: cols.rows as CatalogColumn[], unique: uniq.rows as { table: string; name: string }[] };
}

async function catalogMysql(db: Knex, tables: string[]): Promise<{ columns: CatalogColumn[]; unique: { table: string; name: string }[] }> {
  const list = tables.map(() => '?').join(', ');
  const [cols] = await db.raw(
    `select table_name as \`table\`, column_name as name, data_type as type, character_maximum_length as max, is_nullable as nullable
       from information_schema.columns
      where table_schema = database() and table_name in (${list})
      order by table_name, ordinal_position`,
    tables,
  );
  const [stats] = await db.raw(
    `select table_name as \`table\`, index_name as idx, column_name as name, count(*) over (partition by table_name, index_name) as n
       from information_schema.statistics
      where table_schema = database() and table_name in (${list}) and non_unique = 0`,
    tables,
  );
  const unique = (stats as { table: string; name: string; n: number | string }[]).filter((s) => Number(s.n) === 1);
  return { columns: cols as CatalogColumn[], unique };
}

async function describeSqlite(db: Knex, table: string): Promise<TableInfo | undefined> {
  const cols = (await db.raw('select name, type, "notnull" as nn, pk from pragma_table_info(?)', [table])) as {
    name: string;
    type: string;
    nn: number;
    pk: number;
  }[];
  if (cols.length === 0) return undefined;
  const unique = new Set<string>();
  const pkCols = cols.filter((c) => c.pk > 0);
  if (pkCols.length === 1 && pkCols[0]) unique.add(pkCols[0].name);
  const indexes = (await db.raw('select name, "unique" as u, partial from pragma_index_list(?)', [table])) as {
    name: string;
    u: number;
    partial: number;
  }[];
  for (const idx of indexes) {
    if (!idx.u || idx.partial) continue;
    const icols = (await db.raw('select name from pragma_index_info(?)', [idx.name])) as { name: string }[];
    if (icols.length === 1 && icols[0]) unique.add(icols[0].name);
  }
  return {
    name: table,
    columns: new Map(
      cols.map((c) => {
        const m = /\((\d+)\)/.exec(c.type);
        return [c.name, { name: c.name, dataType: c.type, maxLength: m ? Number(m[1]) : undefined, nullable: !c.nn }];
      }),
    ),
    uniqueColumns: unique,
  };
}
