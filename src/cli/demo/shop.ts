import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { databaseClientFor } from '../../config/config.ts';
import { createDb, sqliteFilename } from '../../db/connect.ts';
import { createShopTables } from '../../django/fixture.ts';
import { ExitError, errorMessage } from '../../errors.ts';
import { QUEUE_NAME } from '../../pipeline/queue.ts';
import { gifBytes, pngBytes } from '../../django/sample-images.ts';

/**
 * The demo's shop: its database (a SQLite file of its own, or a schema/database named for it), a media
 * folder of real images with some trouble planted, and the rows that point at them.
 */

/** Where the demo builds its tables, and the settings that point the tool at them. */
export interface DemoDatabase {
  /** DATABASE_URL / DATABASE_SCHEMA for the tool. */
  env: { DATABASE_URL: string; DATABASE_SCHEMA?: string };
  /** How a user looks at it afterwards, for the closing hint. */
  where: string;
  open(): Knex;
}

/** What the demo plants besides good images, and the outcome each must end in. */
export const PLANTED = {
  missing: 2, // rows whose file is not on disk
  empty: 3, // '' or NULL
  remote: 1, // already a URL
  failed: 3, // an unsafe path, a zero-byte file, a text file named .jpg
};


export const DEMO_SCHEMA = 'media_migrate_demo';
export const DEMO_PREFIX = 'media-migrate-demo';

/** A database of the demo's own: a SQLite file in its scratch folder, or a schema/database named for it. */
export async function prepareDatabase(url: string | undefined, scratch: string): Promise<DemoDatabase> {
  if (!url) {
    const file = join(scratch, 'demo.sqlite3');
    // The tool refuses a SQLite URL whose file does not exist (a typo would open an empty database):
    // the demo means a new one, so it creates the file itself.
    await writeFile(file, '', { flag: 'a' });
    const env = { DATABASE_URL: `sqlite://${file}` };
    return { env, where: `the SQLite file ${file}`, open: () => createDb({ url: env.DATABASE_URL, client: 'better-sqlite3', schema: undefined, poolMax: 1 }) };
  }
  const client = databaseClientFor(url);
  if (client === 'better-sqlite3') {
    const file = sqliteFilename(url);
    if (file !== ':memory:') {
      await mkdir(dirname(resolve(file)), { recursive: true });
      await writeFile(file, '', { flag: 'a' });
    }
    return { env: { DATABASE_URL: url }, where: url, open: () => createDb({ url, client, schema: undefined, poolMax: 1 }) };
  }
  if (client === 'pg') {
    const db = createDb({ url, client, schema: undefined, poolMax: 1 });
    try {
      await db.raw('select 1').catch((err: { code?: string }) => {
        throw new ExitError(2, `DATABASE_URL: cannot connect to PostgreSQL at ${new URL(url).host} (${err.code ?? errorMessage(err)})`);
      });
      await db.raw(`drop schema if exists ${DEMO_SCHEMA} cascade`);
      await db.raw(`create schema ${DEMO_SCHEMA}`);
    } finally {
      await db.destroy();
    }
    return {
      env: { DATABASE_URL: url, DATABASE_SCHEMA: DEMO_SCHEMA },
      where: `schema ${DEMO_SCHEMA} of ${new URL(url).host}`,
      open: () => createDb({ url, client, schema: DEMO_SCHEMA, poolMax: 1 }),
    };
  }
  if (client === 'mysql2') {
    const db = createDb({ url, client, schema: undefined, poolMax: 1 });
    try {
      await db.raw('select 1').catch((err: { code?: string }) => {
        throw new ExitError(2, `DATABASE_URL: cannot connect to MySQL at ${new URL(url).host} (${err.code ?? errorMessage(err)})`);
      });
      await db.raw(`drop database if exists \`${DEMO_SCHEMA}\``);
      await db.raw(`create database \`${DEMO_SCHEMA}\` character set utf8mb4 collate utf8mb4_unicode_ci`);
    } finally {
      await db.destroy();
    }
    const own = new URL(url);
    own.pathname = `/${DEMO_SCHEMA}`;
    return { env: { DATABASE_URL: own.toString() }, where: `database ${DEMO_SCHEMA} of ${own.host}`, open: () => createDb({ url: own.toString(), client, schema: undefined, poolMax: 1 }) };
  }
  throw new ExitError(2, 'DATABASE_URL: unsupported scheme (expected postgres://, mysql:// or sqlite://)');
}

export async function clearQueue(redisUrl: string): Promise<void> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: true });
  connection.on('error', () => {});
  try {
    await connection.connect().catch((err) => {
      throw new ExitError(2, `REDIS_URL: cannot connect to Redis at ${new URL(redisUrl).host} (${err.code ?? errorMessage(err)})`);
    });
    const queue = new Queue(QUEUE_NAME, { connection, prefix: DEMO_PREFIX });
    await queue.obliterate({ force: true });
    await queue.close();
    // The demo's ledger is new each time, its batch ids start again at 1: what an earlier demo left
    // beside the queue (the window's cursor, counters) would be taken for this run's.
    for await (const keys of connection.scanStream({ match: `${DEMO_PREFIX}:*`, count: 500 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) await connection.del(...keys);
    }
  } finally {
    connection.disconnect();
  }
}

export interface DemoRow {
  table: 'shop_productimages' | 'shop_bannerimage' | 'shop_subcategory';
  image: string | null;
}

async function put(root: string, rel: string, bytes: Buffer | string): Promise<void> {
  const p = join(root, rel);
  await mkdir(dirname(p), { recursive: true });
  await writeFile(p, bytes);
}

/**
 * Writes the media folder and returns the rows that reference it, trouble included. For the cutover
 * every good name can be staged (the `&` names of the plain demo could not be, by Cloudinary's rules).
 */
export async function plantMedia(root: string, count: number, opts: { cutover: boolean }): Promise<DemoRow[]> {
  const rows: DemoRow[] = [];
  for (let i = 1; i <= count; i++) {
    const kind = i % 7 === 0 ? 'banner' : i % 5 === 0 ? 'subcategory' : 'product';
    const rel =
      kind === 'banner'
        ? `banners/banner-${i}.gif`
        : kind === 'subcategory'
          ? `subcategories/sub ${i} ${opts.cutover ? 'and' : '&'} more.png`
          : `products/2024/product-${i}.png`;
    await put(root, rel, kind === 'banner' ? gifBytes(24, 8, i) : pngBytes(16 + (i % 9), 12 + (i % 5), i));
    rows.push({ table: kind === 'banner' ? 'shop_bannerimage' : kind === 'subcategory' ? 'shop_subcategory' : 'shop_productimages', image: rel });
  }
  // Two rows share one file: they end up sharing one asset.
  if (rows[0]) rows.push({ table: 'shop_productimages', image: rows[0].image });
  await put(root, 'products/empty.png', Buffer.alloc(0));
  await put(root, 'products/notes.jpg', 'this is a text file, not an image\n');
  rows.push(
    { table: 'shop_productimages', image: 'products/lost-1.png' },
    { table: 'shop_bannerimage', image: 'banners/lost-2.gif' },
    { table: 'shop_productimages', image: '' },
    { table: 'shop_bannerimage', image: '' },
    { table: 'shop_subcategory', image: null },
    { table: 'shop_productimages', image: 'https://res.cloudinary.com/demo/image/upload/sample.jpg' },
    { table: 'shop_productimages', image: '../../etc/passwd' },
    { table: 'shop_productimages', image: 'products/empty.png' },
    { table: 'shop_productimages', image: 'products/notes.jpg' },
  );
  return rows;
}

export async function fillTables(database: DemoDatabase, rows: DemoRow[]): Promise<void> {
  const db = database.open();
  try {
    await createShopTables(db, 'shop');
    for (const table of ['shop_productimages', 'shop_bannerimage', 'shop_subcategory'] as const) {
      const mine = rows.filter((r) => r.table === table).map((r) => ({ image: r.image }));
      // 250 rows a statement: SQLite caps a compound SELECT (knex's multi-row insert there) at 500 terms.
      for (let i = 0; i < mine.length; i += 250) await db(table).insert(mine.slice(i, i + 250));
    }
  } finally {
    await db.destroy();
  }
}

/** An upload the app takes while the cutover runs: a new file and the row that names it. */
export async function addRow(database: DemoDatabase, root: string, r: { rel: string; bytes: Buffer }): Promise<void> {
  await put(root, r.rel, r.bytes);
  const db = database.open();
  try {
    await db('shop_productimages').insert({ image: r.rel });
  } finally {
    await db.destroy();
  }
}
