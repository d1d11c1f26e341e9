import type { Knex } from 'knex';
import type { CheckedSource, Source } from '../config/sources.ts';
import { ConfigError } from '../errors.ts';
import { describeTables } from './schema.ts';

const TEXT_TYPES = /char|text|string|clob/i;
/** A text source may also be a JSON column (an editor's blocks as JSON). */
const JSON_TYPES = /json/i;

/**
 * Checks every source against the live schema and reports every problem at once, by name, before
 * any job exists. Only identifiers that pass here are ever handed to knex.
 */
export async function checkSources(db: Knex, sources: readonly Source[]): Promise<CheckedSource[]> {
  const problems: string[] = [];
  const checked: CheckedSource[] = [];
  const tables = await describeTables(db, sources.map((s) => s.table));
  for (const s of sources) {
    const info = tables.get(s.table);
    const label = `source ${s.table}.${s.column}`;
    if (!info) {
      problems.push(`${label}: table "${s.table}" does not exist`);
      continue;
    }
    const col = info.columns.get(s.column);
    if (!col) {
      problems.push(`${label}: column "${s.column}" does not exist in table "${s.table}"`);
      continue;
    }
    if (!TEXT_TYPES.test(col.dataType) && !(s.kind === 'text' && JSON_TYPES.test(col.dataType))) {
      problems.push(`${label}: column "${s.column}" is ${col.dataType}, not a text column holding file paths`);
      continue;
    }
    if (!info.columns.has(s.pk)) {
      problems.push(`${label}: primary key column "${s.pk}" does not exist in table "${s.table}"`);
      continue;
    }
    if (!info.uniqueColumns.has(s.pk)) {
      problems.push(
        `${label}: "${s.pk}" is not unique in table "${s.table}" (no primary key or unique constraint on it alone); set "pk" to a unique column`,
      );
      continue;
    }
    checked.push({ ...s, maxLength: col.maxLength, nullable: col.nullable });
  }
  if (problems.length) throw new ConfigError(problems);
  return checked;
}
