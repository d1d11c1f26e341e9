import { readFile } from 'node:fs/promises';
import type { Knex } from 'knex';
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { describeTable } from './schema.ts';

/** One image column of one table: every non-empty value in it is a path under MEDIA_ROOT. */
export interface Source {
  table: string;
  column: string;
  pk: string;
}

/** A source checked against the live schema: what we need to write into it safely. */
export interface CheckedSource extends Source {
  /** The column's declared length: a value longer than this would not fit (Django: varchar(100)). */
  maxLength: number | undefined;
  nullable: boolean;
}

const sourceSchema = z
  .object({
    table: z.string().min(1),
    column: z.string().min(1),
    pk: z.string().min(1).default('id'),
  })
  .strict();

// `discovered` is what `media-migrate discover` adds beside the sources it proposes: ignored here.
const sourcesFileSchema = z.object({ sources: z.array(sourceSchema).min(1), discovered: z.unknown().optional() }).strict();

/** The three models of the original shop app, each with an `image` ImageField. */
export function defaultSources(appLabel: string): Source[] {
  return ['productimages', 'bannerimage', 'subcategory'].map((model) => ({
    table: `${appLabel}_${model}`,
    column: 'image',
    pk: 'id',
  }));
}

export function parseSources(json: unknown, origin: string): Source[] {
  const r = sourcesFileSchema.safeParse(json);
  if (!r.success) {
    throw new ConfigError(
      r.error.issues.map((i) => `${origin}: ${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`),
    );
  }
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const s of r.data.sources) {
    const key = `${s.table}.${s.column}`;
    if (seen.has(key)) problems.push(`${origin}: ${key} is listed twice`);
    seen.add(key);
  }
  if (problems.length) throw new ConfigError(problems);
  return r.data.sources;
}

export async function loadSourcesFile(path: string): Promise<Source[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new ConfigError([`--sources ${path}: cannot read the file`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`--sources ${path}: not valid JSON (${(err as Error).message})`]);
  }
  return parseSources(json, `--sources ${path}`);
}

const TEXT_TYPES = /char|text|string|clob/i;

/**
 * Checks every source against the live schema and reports every problem at once, by name, before
 * any job exists. Only identifiers that pass here are ever handed to knex.
 */
export async function checkSources(db: Knex, sources: readonly Source[]): Promise<CheckedSource[]> {
  const problems: string[] = [];
  const checked: CheckedSource[] = [];
  const tables = new Map<string, Awaited<ReturnType<typeof describeTable>>>();
  for (const s of sources) {
    if (!tables.has(s.table)) tables.set(s.table, await describeTable(db, s.table));
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
    if (!TEXT_TYPES.test(col.dataType)) {
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
