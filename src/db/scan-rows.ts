import type { Knex } from 'knex';
import type { Source } from '../config/sources.ts';

/**
 * Streams a source table's primary keys in order (with the column's values when asked), a page at a
 * time: never the whole table in memory.
 */
export async function* scanRows(
  db: Knex,
  source: Source,
  pageSize: number,
  withValues = false,
  bounds: { pkFrom?: string | undefined; pkTo?: string | undefined } = {},
): AsyncGenerator<{ pk: unknown; value: string | undefined }[]> {
  let last: unknown = undefined;
  for (;;) {
    const q = db(source.table).select(withValues ? [source.pk, source.column] : [source.pk]).orderBy(source.pk).limit(pageSize);
    if (bounds.pkFrom !== undefined) q.where(source.pk, '>=', bounds.pkFrom);
    if (bounds.pkTo !== undefined) q.where(source.pk, '<=', bounds.pkTo);
    if (last !== undefined) q.where(source.pk, '>', last as Knex.Value);
    const rows = (await q) as Record<string, unknown>[];
    if (rows.length === 0) return;
    yield rows.map((r) => ({ pk: r[source.pk], value: r[source.column] == null ? undefined : String(r[source.column]) }));
    last = rows[rows.length - 1]![source.pk];
    if (rows.length < pageSize) return;
  }
}
