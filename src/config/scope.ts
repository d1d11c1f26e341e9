import { ConfigError } from '../errors.ts';
import type { Source } from './sources.ts';

/**
 * What part of the library a batch covers: all of it (an empty scope), or a canary or partial run.
 * The batch records its scope, so `status`, the dashboard and `report` can say what it covered, and a
 * later batch without one continues with the rest (what the canary migrated is skipped as
 * `already_migrated`).
 */
export interface BatchScope {
  /** Only the first N records of the batch: the sources in the order given, each in primary-key order. */
  limit?: number;
  /** Only these sources, as `table` or `table.column`. */
  only?: string[];
  /** Only primary keys from this one on (inclusive), compared as the column compares them. */
  pkFrom?: string;
  /** Only primary keys up to this one (inclusive). */
  pkTo?: string;
  /** Only the rows a file lists (`report --format csv` output, or `table,pk` lines). */
  from?: { file: string; rows: number; digest: string };
}

export interface ScopeOptions {
  limit?: number | undefined;
  only?: string[] | undefined;
  pkFrom?: string | undefined;
  pkTo?: string | undefined;
}

/** The scope the command-line options ask for; an empty object means the whole library. */
export function scopeFrom(opts: ScopeOptions): BatchScope {
  const scope: BatchScope = {};
  if (opts.limit !== undefined) scope.limit = opts.limit;
  if (opts.only && opts.only.length > 0) scope.only = [...new Set(opts.only)];
  if (opts.pkFrom !== undefined) scope.pkFrom = opts.pkFrom;
  if (opts.pkTo !== undefined) scope.pkTo = opts.pkTo;
  return scope;
}

export function isScoped(scope: BatchScope | undefined): boolean {
  return scope !== undefined && Object.keys(scope).length > 0;
}

/**
 * The sources `--only` keeps, in their own order; every name must match one, or the whole command
 * stops with the name it could not find.
 */
export function applyOnly<S extends Source>(sources: readonly S[], only: readonly string[] | undefined): S[] {
  if (!only || only.length === 0) return [...sources];
  const problems: string[] = [];
  for (const name of only) {
    const [table, column] = name.split('.', 2);
    if (!sources.some((s) => s.table === table && (column === undefined || s.column === column))) {
      problems.push(`--only ${name}: no such source (the sources are ${sources.map((s) => `${s.table}.${s.column}`).join(', ')})`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return sources.filter((s) => only.some((name) => name === s.table || name === `${s.table}.${s.column}`));
}

/** `first 10 records · only shop_productimages · pk 100–200`, or `the whole library`. */
export function describeScope(scope: BatchScope | undefined): string {
  if (!scope || !isScoped(scope)) return 'the whole library';
  const parts: string[] = [];
  if (scope.from) parts.push(`the ${scope.from.rows} rows listed in ${scope.from.file}`);
  if (scope.limit !== undefined) parts.push(`the first ${scope.limit} record${scope.limit === 1 ? '' : 's'} (sources in order, each by primary key)`);
  if (scope.only) parts.push(`only ${scope.only.join(', ')}`);
  if (scope.pkFrom !== undefined || scope.pkTo !== undefined) {
    parts.push(`primary keys ${scope.pkFrom !== undefined ? `from ${scope.pkFrom}` : ''}${scope.pkFrom !== undefined && scope.pkTo !== undefined ? ' ' : ''}${scope.pkTo !== undefined ? `to ${scope.pkTo}` : ''}`);
  }
  return parts.join(' · ');
}
