import type { AttemptFields, Finish } from './types.ts';

/** How a finish and an attempt map onto the records table's columns, for one record or many (a CASE each). */

/** What an attempt notes, column by column. */
export const ATTEMPT_COLUMNS: readonly (readonly [keyof AttemptFields, string])[] = [
  ['publicId', 'public_id'],
  ['etag', 'etag'],
  ['bytes', 'bytes'],
  ['oldValue', 'old_value'],
  ['detail', 'detail'],
  ['refs', 'refs'],
];

/** The columns a finish writes, and where each comes from (undefined: left as it is). */
export const FINISH_COLUMNS: readonly (readonly [string, (f: Finish) => unknown])[] = [
  ['outcome', (f) => f.outcome],
  ['reason', (f) => f.reason],
  ['detail', (f) => f.detail ?? null],
  ['old_value', (f) => f.oldValue],
  ['new_value', (f) => f.newValue],
  ['public_id', (f) => f.publicId],
  ['etag', (f) => f.etag],
  ['bytes', (f) => f.bytes],
  ['reused', (f) => f.reused],
  ['upload_ms', (f) => (f.uploadMs === undefined ? undefined : Math.round(f.uploadMs))],
  ['tagged', (f) => f.tagged],
  ['refs', (f) => f.refs],
];

/** A finish's columns for a one-record update (undefined ones left out: left as they are). */
export function finishColumns(f: Finish): Record<string, unknown> {
  const set: Record<string, unknown> = {};
  for (const [column, value] of FINISH_COLUMNS) if (value(f) !== undefined) set[column] = value(f);
  return set;
}

export function attemptColumns(fields: AttemptFields): Record<string, unknown> {
  const set: Record<string, unknown> = {};
  for (const [key, column] of ATTEMPT_COLUMNS) if (fields[key] !== undefined) set[column] = fields[key];
  return set;
}
