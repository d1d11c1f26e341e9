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

/** Returns undefined when the table does not exist. */
export async function describeTable(db: Knex, table: string): Promise<TableInfo | undefined> {
  switch (dialectOf(db)) {
    case 'pg':
      return describePg(db, table);
    case 'mysql':
      return describeMysql(db, table);
    case 'sqlite':
      return describeSqlite(db, table);
  }
}

async function describePg(db: Knex, table: string): Promise<TableInfo | undefined> {
  const cols = await db.raw(
    `select column_name as name, data_type as type, character_maximum_length as max, is_nullable as nullable
       from information_schema.columns
      where table_schema = current_schema() and table_name = ?
      order by ordinal_position`,
    [table],
  );
  const rows = cols.rows as { name: string; type: string; max: number | null; nullable: string }[];
  if (rows.length === 0) return undefined;
  const uniq = await db.raw(
    `select a.attname as name
       from pg_index i
       join pg_class c on c.oid = i.indrelid
       join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = c.oid and a.attnum = i.indkey[0]
      where n.nspname = current_schema() and c.relname = ? and i.indisunique and i.indnkeyatts = 1
        and i.indpred is null`,
    [table],
  );
  return {
    name: table,
    columns: new Map(
      rows.map((r) => [
        r.name,
        { name: r.name, dataType: r.type, maxLength: r.max ?? undefined, nullable: r.nullable === 'YES' },
      ]),
    ),
    uniqueColumns: new Set((uniq.rows as { name: string }[]).map((r) => r.name)),
  };
}

async function describeMysql(db: Knex, table: string): Promise<TableInfo | undefined> {
  const [rows] = await db.raw(
    `select column_name as name, data_type as type, character_maximum_length as max, is_nullable as nullable
       from information_schema.columns
      where table_schema = database() and table_name = ?
      order by ordinal_position`,
    [table],
  );
  const cols = rows as { name: string; type: string; max: number | string | null; nullable: string }[];
  if (cols.length === 0) return undefined;
  const [stats] = await db.raw(
    `select index_name as idx, column_name as name, count(*) over (partition by index_name) as n
       from information_schema.statistics
      where table_schema = database() and table_name = ? and non_unique = 0`,
    [table],
  );
  return {
    name: table,
    columns: new Map(
      cols.map((r) => [
        r.name,
        {
          name: r.name,
          dataType: r.type,
          maxLength: r.max === null ? undefined : Number(r.max),
          nullable: r.nullable === 'YES',
        },
      ]),
    ),
    uniqueColumns: new Set(
      (stats as { name: string; n: number | string }[]).filter((s) => Number(s.n) === 1).map((s) => s.name),
    ),
  };
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
