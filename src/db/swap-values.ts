import type { Knex } from 'knex';
import { dialectOf, whereExactly } from './connect.ts';

export interface Swap {
  pk: string;
  /** The value the row must still hold (compared byte for byte)… */
  from: string;
  /** …for it to get this one. */
  to: string;
}

/**
 * Compare-and-swap on many rows of one table in one statement: each row gets its new value only if
 * it still holds the value read (an app write in between wins). Returns the keys of the rows that
 * changed. MySQL has no UPDATE … RETURNING: when it changed fewer rows than asked, the rows are read
 * back (in the same transaction, so they are the ones this statement left). A key the database
 * spells otherwise than asked (a case-insensitive or padded key) cannot be told apart here: the
 * statement fails with UnmatchedKeys, and the group commit writes each row on its own instead.
 */
export async function swapValues(db: Knex, table: string, pkColumn: string, column: string, swaps: readonly Swap[]): Promise<Set<string>> {
  if (swaps.length === 0) return new Set();
  if (swaps.length === 1) {
    const [s] = swaps as [Swap];
    const n = await whereExactly(db, db(table).where(pkColumn, s.pk), column, s.from).update({ [column]: s.to });
    return n > 0 ? new Set([s.pk]) : new Set();
  }
  const mysql = dialectOf(db) === 'mysql';
  const to = db.raw(`case ?? ${swaps.map(() => 'when ? then ?').join(' ')} else ?? end`, [pkColumn, ...swaps.flatMap((s) => [s.pk, s.to]), column]);
  const q = db(table)
    .whereIn(
      pkColumn,
      swaps.map((s) => s.pk),
    )
    .where((w) => {
      for (const s of swaps) w.orWhere((one) => whereExactly(db, one.where(pkColumn, s.pk), column, s.from));
    });
  const asked = new Set(swaps.map((s) => s.pk));
  if (!mysql) {
    const changed = (await q.update({ [column]: to }, [pkColumn])) as Record<string, unknown>[];
    const keys = new Set(changed.map((r) => String(r[pkColumn])));
    if ([...keys].some((k) => !asked.has(k))) throw new UnmatchedKeys(table);
    return keys;
  }
  const n = (await q.update({ [column]: to })) as number;
  if (n === swaps.length) return new Set(swaps.map((s) => s.pk));
  const rows = (await db(table)
    .whereIn(
      pkColumn,
      swaps.map((s) => s.pk),
    )
    .select({ pk: pkColumn, value: column })) as { pk: unknown; value: unknown }[];
  const holds = new Map(rows.map((r) => [String(r.pk), r.value == null ? undefined : String(r.value)]));
  if ([...holds.keys()].some((k) => !asked.has(k))) throw new UnmatchedKeys(table);
  return new Set(swaps.filter((s) => holds.get(s.pk) === s.to).map((s) => s.pk));
}

export class UnmatchedKeys extends Error {
  constructor(table: string) {
    super(`${table}: a key came back spelled otherwise than asked; each row is written on its own`);
  }
}
