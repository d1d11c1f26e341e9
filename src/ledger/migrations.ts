import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { dialectOf } from '../db/connect.ts';

/**
 * The ledger's schema, versioned with knex's migrator. Names start with `media_migrate_` so they cannot
 * collide with a Django app's tables (which are `<app_label>_<model>`), and the migrations list lives
 * in code so it works the same from a clone, an npm install or a Docker image. One piece: the schema's
 * history, appended to and never edited, beside the one function that applies it.
 */
export const BATCHES = 'media_migrate_batches';
export const RECORDS = 'media_migrate_records';
export const MIGRATIONS_TABLE = 'media_migrate_knex_migrations';
/** Values outside a scoped stage batch that claim one of its in-place ids (see cutover/collisions.ts). */
export const CLAIMS = 'media_migrate_claims';
export const ASSETS = 'media_migrate_assets';
/** One row: the ledger's own identity, which keeps its work in Redis apart from another ledger's (see identity.ts). */
export const IDENTITY = 'media_migrate_ledger';

const migrations: Record<string, Knex.Migration> = {
  '0001_ledger': {
    async up(db) {
      await db.schema.createTable(BATCHES, (t) => {
        t.increments('id');
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp('enqueued_at', { useTz: true }).nullable();
        t.timestamp('rolled_back_at', { useTz: true }).nullable();
        t.text('sources').notNullable();
        t.string('store', 16).notNullable();
        t.boolean('dry_run').notNullable().defaultTo(false);
        t.string('prefix', 255).notNullable();
        t.string('tag', 255).notNullable();
        t.text('halted_reason').nullable();
      });
      await db.schema.createTable(RECORDS, (t) => {
        t.bigIncrements('id');
        t.integer('batch_id').unsigned().notNullable().references('id').inTable(BATCHES).onDelete('CASCADE');
        t.string('source_table', 128).notNullable();
        t.string('source_column', 128).notNullable();
        t.string('pk', 191).notNullable();
        t.string('outcome', 16).notNullable().defaultTo('pending');
        t.string('reason', 32).nullable();
        t.text('detail').nullable();
        t.text('old_value').nullable();
        t.text('new_value').nullable();
        t.string('public_id', 255).nullable();
        t.string('etag', 64).nullable();
        t.bigInteger('bytes').nullable();
        t.boolean('reused').nullable();
        t.integer('attempts').notNullable().defaultTo(0);
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
        t.timestamp('finished_at', { useTz: true }).nullable();
        t.timestamp('rolled_back_at', { useTz: true }).nullable();
        t.unique(['batch_id', 'source_table', 'source_column', 'pk'], { indexName: 'media_migrate_records_identity' });
        t.index(['batch_id', 'outcome'], 'media_migrate_records_batch_outcome');
        t.index(['source_table', 'source_column', 'pk'], 'media_migrate_records_row');
        t.index(['public_id'], 'media_migrate_records_public_id');
        t.index(['batch_id', 'finished_at'], 'media_migrate_records_batch_finished');
      });
    },
    async down(db) {
      await db.schema.dropTableIfExists(RECORDS);
      await db.schema.dropTableIfExists(BATCHES);
    },
  },
  '0002_upload_ms': {
    // How long the upload took, for the dashboard's latency histogram and the benchmarks.
    async up(db) {
      await db.schema.alterTable(RECORDS, (t) => {
        t.integer('upload_ms').nullable();
      });
    },
    async down(db) {
      await db.schema.alterTable(RECORDS, (t) => {
        t.dropColumn('upload_ms');
      });
    },
  },
  '0003_cutover': {
    // The staged cutover: a batch's kind (stage batches place files at their in-place ids, migrate
    // batches rewrite rows), the stage batch a migrate batch rewrites, the order records are queued
    // in (what is not in place goes first), and whether an asset has been given MEDIA_TAG yet.
    async up(db) {
      await db.schema.alterTable(BATCHES, (t) => {
        t.string('kind', 16).notNullable().defaultTo('migrate');
        t.integer('stage_batch_id').nullable();
      });
      await db.schema.alterTable(RECORDS, (t) => {
        t.smallint('priority').notNullable().defaultTo(0);
        t.boolean('tagged').nullable();
        t.index(['batch_id', 'outcome', 'priority', 'id'], 'media_migrate_records_queue_order');
      });
    },
    async down(db) {
      await db.schema.alterTable(RECORDS, (t) => {
        t.dropIndex(['batch_id', 'outcome', 'priority', 'id'], 'media_migrate_records_queue_order');
        t.dropColumn('tagged');
        t.dropColumn('priority');
      });
      await db.schema.alterTable(BATCHES, (t) => {
        t.dropColumn('stage_batch_id');
        t.dropColumn('kind');
      });
    },
  },
  '0004_operator_control': {
    // Canary and partial batches record their scope; a batch records a fingerprint of MEDIA_ROOT so
    // a worker that cannot see the media refuses its jobs.
    async up(db) {
      await db.schema.alterTable(BATCHES, (t) => {
        t.text('scope').nullable();
        t.text('fingerprint').nullable();
      });
    },
    async down(db) {
      await db.schema.alterTable(BATCHES, (t) => {
        t.dropColumn('fingerprint');
        t.dropColumn('scope');
      });
    },
  },
  '0005_search': {
    // Finding a record by a piece of its path or public_id over a million rows: trigram indexes on
    // PostgreSQL (pg_trgm, a trusted extension since PostgreSQL 13). Where the extension cannot be
    // had (no privilege), or on MySQL and SQLite, the search is a scan: slower, still right.
    async up(db) {
      if (dialectOf(db) !== 'pg') return;
      const schema = await trigramSchema(db);
      if (!schema) return;
      await db.raw(`create index if not exists media_migrate_records_old_value_trgm on ?? using gin (old_value ${schema}.gin_trgm_ops)`, [RECORDS]);
      await db.raw(`create index if not exists media_migrate_records_public_id_trgm on ?? using gin (public_id ${schema}.gin_trgm_ops)`, [RECORDS]);
    },
    async down(db) {
      if (dialectOf(db) !== 'pg') return;
      await db.raw('drop index if exists media_migrate_records_old_value_trgm');
      await db.raw('drop index if exists media_migrate_records_public_id_trgm');
    },
  },
  '0006_tagged_index': {
    // Every worker sweeps the ledger each minute for assets still waiting for MEDIA_TAG: a seek,
    // not a scan of a million rows.
    async up(db) {
      await db.schema.alterTable(RECORDS, (t) => {
        t.index(['tagged', 'id'], 'media_migrate_records_tagged');
      });
    },
    async down(db) {
      await db.schema.alterTable(RECORDS, (t) => {
        t.dropIndex(['tagged', 'id'], 'media_migrate_records_tagged');
      });
    },
  },
  '0007_outside_claims': {
    // A scoped stage batch (a canary, --only, a pk range, --from) must still see a row outside its
    // scope whose value claims the same in-place id (a.jpg staged, a.png left out): the sources to
    // look through, and what was found there.
    async up(db) {
      await db.schema.alterTable(BATCHES, (t) => {
        t.text('claim_sources').nullable();
      });
      await db.schema.createTable(CLAIMS, (t) => {
        t.bigIncrements('id');
        t.integer('batch_id').unsigned().notNullable().references('id').inTable(BATCHES).onDelete('CASCADE');
        t.string('public_id', 255).notNullable();
        t.string('source_table', 128).notNullable();
        t.string('source_column', 128).notNullable();
        t.string('pk', 191).notNullable();
        t.text('value').notNullable();
        t.unique(['batch_id', 'source_table', 'source_column', 'pk'], { indexName: 'media_migrate_claims_identity' });
        t.index(['batch_id', 'public_id'], 'media_migrate_claims_public_id');
      });
    },
    async down(db) {
      await db.schema.dropTableIfExists(CLAIMS);
      await db.schema.alterTable(BATCHES, (t) => {
        t.dropColumn('claim_sources');
      });
    },
  },
  '0008_counts_index': {
    // `status`, the dashboard and migrate's progress count a batch's records by source and outcome:
    // with the sources in the (batch_id, outcome) index the count can read that index alone. Outcome
    // comes before the source on purpose: an index beginning (batch_id, source_table, source_column)
    // looks to PostgreSQL as good as the identity index for finding one record, and picking it made
    // that look-up (once per job) read every record of the source.
    async up(db) {
      await db.schema.alterTable(RECORDS, (t) => {
        t.index(['batch_id', 'outcome', 'source_table', 'source_column'], 'media_migrate_records_outcome_source');
      });
      await db.schema.alterTable(RECORDS, (t) => {
        t.dropIndex(['batch_id', 'outcome'], 'media_migrate_records_batch_outcome');
      });
    },
    async down(db) {
      await db.schema.alterTable(RECORDS, (t) => {
        t.index(['batch_id', 'outcome'], 'media_migrate_records_batch_outcome');
      });
      await db.schema.alterTable(RECORDS, (t) => {
        t.dropIndex(['batch_id', 'outcome', 'source_table', 'source_column'], 'media_migrate_records_outcome_source');
      });
    },
  },
  '0009_ledger_identity': {
    // Two databases (staging and production, two shops) may share one Redis and one QUEUE_PREFIX:
    // each ledger gets a random identity that namespaces everything it puts in Redis. `home` is what
    // the database says it is, filled in at first open: a copy of the ledger (a dump restored
    // elsewhere) then shows as one and takes an identity of its own.
    async up(db) {
      await db.schema.createTable(IDENTITY, (t) => {
        t.string('id', 16).primary();
        t.text('home').nullable();
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(db.fn.now());
      });
      await db(IDENTITY).insert({ id: newLedgerId() });
    },
    async down(db) {
      await db.schema.dropTableIfExists(IDENTITY);
    },
  },
  '0010_text_references': {
    // Text sources: a record's references (name, asset, state) as JSON beside its old and new text, and
    // each asset a text reference was rewritten to, so a file referenced from many rows is uploaded once.
    // MySQL's TEXT stops at 64 KB, short of what a rich-text body can hold: those columns grow there.
    async up(db) {
      const mysql = dialectOf(db) === 'mysql';
      await db.schema.alterTable(RECORDS, (t) => {
        t.text('refs', 'longtext').nullable();
        if (mysql) {
          t.text('old_value', 'longtext').nullable().alter();
          t.text('new_value', 'longtext').nullable().alter();
        }
      });
      await db.schema.createTable(ASSETS, (t) => {
        t.bigIncrements('id').primary();
        t.string('resource_type', 16).notNullable();
        t.string('public_id', 255).notNullable();
        t.string('etag', 64).notNullable();
        t.bigInteger('bytes').notNullable();
        t.string('format', 32).notNullable().defaultTo('');
        t.text('secure_url').notNullable();
        t.bigInteger('batch_id').notNullable();
        t.timestamp('created_at').notNullable().defaultTo(db.fn.now());
        t.unique(['resource_type', 'public_id'], { indexName: 'media_migrate_assets_identity' });
      });
    },
    async down(db) {
      await db.schema.dropTableIfExists(ASSETS);
      await db.schema.alterTable(RECORDS, (t) => {
        t.dropColumn('refs');
      });
    },
  },
};

/** Ten characters of a 32-letter alphabet (50 random bits), short enough for every Redis key and job. */
export function newLedgerId(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  return [...randomBytes(10)].map((b) => alphabet[b % 32]).join('');
}

/**
 * The schema pg_trgm lives in, creating it in `public` when it is available and we may; undefined
 * when it cannot be had. Created in a savepoint: a refusal must not abort the migration.
 */
async function trigramSchema(db: Knex): Promise<string | undefined> {
  const find = async () => {
    const r = (await db.raw(`select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace where e.extname = 'pg_trgm'`)) as {
      rows: { schema: string }[];
    };
    return r.rows[0]?.schema;
  };
  const found = await find();
  if (found) return `"${found.replace(/"/g, '""')}"`;
  try {
    await db.transaction(async (sp) => {
      await sp.raw('create extension if not exists pg_trgm with schema public');
    });
  } catch {
    // No privilege, or not installed on the server: the search scans instead.
  }
  const created = await find();
  return created ? `"${created.replace(/"/g, '""')}"` : undefined;
}

export const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    return Object.keys(migrations).sort();
  },
  getMigrationName(name) {
    return name;
  },
  async getMigration(name) {
    const m = migrations[name];
    if (!m) throw new Error(`unknown ledger migration ${name}`);
    return m;
  },
};

export async function migrateLedger(db: Knex): Promise<void> {
  // Every command starts here, and almost always finds the ledger up to date: one read of what knex
  // recorded says so (knex's own list takes four round trips: both of its tables looked up, the lock
  // read, then the names).
  if (await upToDate(db)) return;
  const config = { migrationSource, tableName: MIGRATIONS_TABLE };
  // When nothing is pending, read only, so starting a command never waits on (or, in SQLite,
  // collides with) the migration lock while workers are writing.
  const [, pending] = (await db.migrate.list(config)) as [unknown[], unknown[]];
  if (pending.length === 0) return;
  await db.migrate.latest(config);
}

/** Has knex recorded every migration we know? False also when its table is not there yet (a new ledger). */
async function upToDate(db: Knex): Promise<boolean> {
  let rows: { name: string }[];
  try {
    rows = (await db(MIGRATIONS_TABLE).select('name')) as { name: string }[];
  } catch {
    return false;
  }
  const done = new Set(rows.map((r) => r.name));
  return Object.keys(migrations).every((name) => done.has(name));
}
