import type { Knex } from 'knex';
import { databaseHome } from '../db/home.ts';
import { IDENTITY, newLedgerId } from './migrations.ts';

/**
 * The ledger's identity: a random id created with the ledger (migration 0009), which namespaces
 * everything this ledger puts in Redis, so two databases on one Redis and one QUEUE_PREFIX never meet.
 *
 * A copied ledger (production's dump restored for staging) would carry production's id and meet it
 * again. So the row also notes what the database says it is (db/home.ts); a process that finds the
 * ledger in another database than the one it was noted in gives this copy an id of its own.
 */
export interface LedgerIdentity {
  id: string;
  /** Set when this open found a copy and gave it a new id: the id it carried. */
  copiedFrom?: string;
}

export async function openIdentity(db: Knex): Promise<LedgerIdentity> {
  const home = await databaseHome(db);
  for (let attempt = 0; attempt < 3; attempt++) {
    const row = (await db(IDENTITY).orderBy(['created_at', 'id']).first('id', 'home')) as { id: string; home: string | null } | undefined;
    if (!row) {
      // Someone deleted the row: a ledger without an identity gets a new one.
      await db(IDENTITY).insert({ id: newLedgerId(), home }).onConflict('id').ignore();
      continue;
    }
    if (row.home === home) return { id: row.id };
    if (row.home === null) {
      // The first open since the migration: note where this ledger lives. Of two processes doing so
      // at once, both write the same value.
      await db(IDENTITY).where({ id: row.id }).whereNull('home').update({ home });
      continue;
    }
    // A copy. Of two processes opening it at once, one renames it; the other reads the new id.
    const id = newLedgerId();
    const n = await db(IDENTITY).where({ id: row.id, home: row.home }).update({ id, home });
    if (n > 0) return { id, copiedFrom: row.id };
  }
  throw new Error(`${IDENTITY}: the ledger's identity kept changing while it was read`);
}
