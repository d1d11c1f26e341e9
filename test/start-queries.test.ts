import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Ledger } from '../src/ledger/ledger.ts';
import { ASSETS, MIGRATIONS_TABLE, migrationSource } from '../src/ledger/migrations.ts';
import { checkSources } from '../src/db/check-sources.ts';
import { defaultSources } from '../src/config/sources.ts';
import { createHarness, type Harness } from './helpers/harness.ts';

/**
 * What every command does before its first record, in few round trips: opening the ledger (one
 * read when it is up to date, while a ledger left behind by an older version still gets what it
 * lacks), and checking the sources against the live schema (two catalog queries for all tables).
 */

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

/** The statements a piece of work sends (all of them, or those matching). */
async function queries(work: () => Promise<unknown>, matching: RegExp = /./): Promise<string[]> {
  const seen: string[] = [];
  const listener = (q: { sql: string }) => {
    if (matching.test(q.sql)) seen.push(q.sql);
  };
  h.db.on('query', listener);
  try {
    await work();
  } finally {
    h.db.removeListener('query', listener);
  }
  return seen;
}

describe('opening the ledger', () => {
  it('finds an up-to-date ledger with one read of the migrations knex recorded', async () => {
    const sent = await queries(() => new Ledger(h.db).open(), new RegExp(MIGRATIONS_TABLE));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/^select .*name.* from .*media_migrate_knex_migrations/i);
  });

  it('brings a ledger one migration behind up to date, and opens it as before', async () => {
    const config = { migrationSource, tableName: MIGRATIONS_TABLE };
    const id = (await new Ledger(h.db).open()).id;
    await h.db.migrate.down(config);
    expect(await h.db.schema.hasTable(ASSETS)).toBe(false);
    const reopened = await new Ledger(h.db).open();
    expect(await h.db.schema.hasTable(ASSETS)).toBe(true);
    expect(reopened.id).toBe(id);
    const [, pending] = (await h.db.migrate.list(config)) as [unknown[], unknown[]];
    expect(pending).toEqual([]);
  });
});

describe('checking the sources', () => {
  it('reads the catalog for every table at once (SQLite asks per table, in process), and still names each problem', async () => {
    const sources = [...defaultSources('shop'), { table: 'shop_gone', column: 'image', pk: 'id' }];
    const tables = new Set(sources.map((s) => s.table)).size;
    let problem = '';
    const sent = await queries(
      () => checkSources(h.db, sources).catch((err: Error) => (problem = err.message)),
      /information_schema|pg_index|pragma_/,
    );
    expect(problem).toContain('source shop_gone.image: table "shop_gone" does not exist');
    if (h.dialect === 'sqlite') expect(sent.length).toBeGreaterThanOrEqual(tables);
    else expect(sent).toHaveLength(2);
    const checked = await checkSources(h.db, defaultSources('shop'));
    expect(checked.map((s) => `${s.table}.${s.column}`)).toEqual(defaultSources('shop').map((s) => `${s.table}.${s.column}`));
  });
});
