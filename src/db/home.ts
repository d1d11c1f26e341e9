import type { Knex } from 'knex';
import { dialectOf } from './connect.ts';

/**
 * What the database server says this database is, whatever address or proxy a process reached it
 * through: PostgreSQL's cluster identifier (set once by initdb) with the database and schema, MySQL's
 * host name and port as the server knows them with the database, SQLite's file. Two processes on one
 * database always agree on it; a copy (a dump restored on another server, a copied file) differs.
 */
export async function databaseHome(db: Knex): Promise<string> {
  const dialect = dialectOf(db);
  if (dialect === 'pg') {
    const where = (await db.raw('select current_database() as db, current_schema() as schema')) as { rows: { db: string; schema: string | null }[] };
    // Readable by everyone by default; an installation that revoked it still has the names.
    const cluster = await db
      .raw('select system_identifier::text as id from pg_control_system()')
      .then((r: { rows: { id: string }[] }) => r.rows[0]?.id ?? '')
      .catch(() => '');
    return `pg:${cluster}:${where.rows[0]?.db ?? ''}:${where.rows[0]?.schema ?? ''}`;
  }
  if (dialect === 'mysql') {
    const [rows] = (await db.raw('select @@hostname as host, @@port as port, database() as db')) as [{ host: string; port: number; db: string }[]];
    const r = rows[0];
    return `mysql:${r?.host ?? ''}:${r?.port ?? ''}:${r?.db ?? ''}`;
  }
  const files = (await db.raw('pragma database_list')) as { name: string; file: string }[];
  return `sqlite:${files.find((f) => f.name === 'main')?.file ?? ''}`;
}
