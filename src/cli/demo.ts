import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import knex from 'knex';
import { createShopTables } from '../django-fixture.ts';
import { startEmulator } from '../emulator/server.ts';
import { ExitError, errorMessage } from '../errors.ts';
import { QUEUE_NAME } from '../queue.ts';
import { gifBytes, pngBytes } from '../sample-images.ts';
import { println, type CommandIO } from './io.ts';
import { migrateCommand } from './migrate.ts';

export interface DemoOptions {
  images: number;
  latency: number;
  concurrency: number;
}

const DEMO_SCHEMA = 'media_migrate_demo';
const DEMO_PREFIX = 'media-migrate-demo';
export const DEFAULT_DEMO_DATABASE_URL = 'postgres://postgres:postgres@127.0.0.1:5432/postgres';

/** What the demo plants besides good images, and the outcome each must end in. */
export const PLANTED = {
  missing: 2, // rows whose file is not on disk
  empty: 3, // '' or NULL
  remote: 1, // already a URL
  failed: 3, // an unsafe path, a zero-byte file, a text file named .jpg
};

/**
 * `media-migrate demo`: a real migration on embedded defaults. It builds its own schema (the seed
 * app's three tables) in a local PostgreSQL, a temporary media folder of real images with some
 * trouble planted, starts the bundled Cloudinary emulator, and runs `migrate` against all of it.
 * It reads DEMO_DATABASE_URL, never DATABASE_URL, so it cannot touch an app's real database.
 */
export async function demoCommand(opts: DemoOptions, io: CommandIO): Promise<number> {
  const databaseUrl = io.env.DEMO_DATABASE_URL ?? DEFAULT_DEMO_DATABASE_URL;
  const redisUrl = io.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const mediaRoot = await mkdtemp(join(tmpdir(), 'media-migrate-demo-'));
  const emulator = await startEmulator({ faults: { latencyMs: opts.latency, latencyJitterMs: Math.round(opts.latency / 4) } });
  try {
    await prepareDatabase(databaseUrl);
    await clearQueue(redisUrl);
    const rows = await plantMedia(mediaRoot, opts.images);
    await fillTables(databaseUrl, rows);
    println(io.stderr, `demo: ${opts.images} image rows in schema ${DEMO_SCHEMA}, files in ${mediaRoot}, Cloudinary emulator at ${emulator.url}`);

    const env = {
      ...io.env,
      DATABASE_URL: databaseUrl,
      DATABASE_SCHEMA: DEMO_SCHEMA,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: DEMO_PREFIX,
      MEDIA_ROOT: mediaRoot,
      CLOUDINARY_URL: emulator.cloudinaryUrl,
      DJANGO_APP_LABEL: 'shop',
    };
    const code = await migrateCommand({ concurrency: opts.concurrency }, { ...io, env });
    if (code === 2) return code;
    println(io.stderr, '');
    println(io.stderr, `The ${PLANTED.failed} failures and ${PLANTED.missing} missing files are planted: an unsafe path (../), a zero-byte file and`);
    println(io.stderr, 'a text file named .jpg fail without any upload; missing files are reported, not retried.');
    println(io.stderr, `Look at the rows:   psql ${databaseUrl.replace(/:[^:@/]*@/, '@')} -c 'select * from ${DEMO_SCHEMA}.shop_productimages limit 5'`);
    println(io.stderr, `Look at the ledger: DATABASE_URL=${databaseUrl.replace(/:[^:@/]*@/, '@')} DATABASE_SCHEMA=${DEMO_SCHEMA} npx media-migrate status`);
    return 0;
  } catch (err) {
    if (err instanceof ExitError) throw err;
    throw new ExitError(2, `demo: ${errorMessage(err)} (it needs PostgreSQL at DEMO_DATABASE_URL and Redis at REDIS_URL)`);
  } finally {
    await emulator.close();
    await rm(mediaRoot, { recursive: true, force: true });
  }
}

async function prepareDatabase(url: string): Promise<void> {
  const db = knex({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
  try {
    await db.raw('select 1').catch((err) => {
      throw new ExitError(2, `DEMO_DATABASE_URL: cannot connect to PostgreSQL at ${new URL(url).host} (${err.code ?? errorMessage(err)})`);
    });
    await db.raw(`drop schema if exists ${DEMO_SCHEMA} cascade`);
    await db.raw(`create schema ${DEMO_SCHEMA}`);
  } finally {
    await db.destroy();
  }
}

async function clearQueue(redisUrl: string): Promise<void> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: true });
  connection.on('error', () => {});
  try {
    await connection.connect().catch((err) => {
      throw new ExitError(2, `REDIS_URL: cannot connect to Redis at ${new URL(redisUrl).host} (${err.code ?? errorMessage(err)})`);
    });
    const queue = new Queue(QUEUE_NAME, { connection, prefix: DEMO_PREFIX });
    await queue.obliterate({ force: true });
    await queue.close();
  } finally {
    connection.disconnect();
  }
}

interface DemoRow {
  table: 'shop_productimages' | 'shop_bannerimage' | 'shop_subcategory';
  image: string | null;
}

/** Writes the media folder and returns the rows that reference it, trouble included. */
async function plantMedia(root: string, count: number): Promise<DemoRow[]> {
  const put = async (rel: string, bytes: Buffer | string) => {
    const p = join(root, rel);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, bytes);
  };
  const rows: DemoRow[] = [];
  for (let i = 1; i <= count; i++) {
    const kind = i % 7 === 0 ? 'banner' : i % 5 === 0 ? 'subcategory' : 'product';
    const rel =
      kind === 'banner'
        ? `banners/banner-${i}.gif`
        : kind === 'subcategory'
          ? `subcategories/sub ${i} & more.png`
          : `products/2024/product-${i}.png`;
    await put(rel, kind === 'banner' ? gifBytes(24, 8, i) : pngBytes(16 + (i % 9), 12 + (i % 5), i));
    rows.push({ table: kind === 'banner' ? 'shop_bannerimage' : kind === 'subcategory' ? 'shop_subcategory' : 'shop_productimages', image: rel });
  }
  // Two rows share one file: they end up sharing one asset.
  if (rows[0]) rows.push({ table: 'shop_productimages', image: rows[0].image });
  await put('products/empty.png', Buffer.alloc(0));
  await put('products/notes.jpg', 'this is a text file, not an image\n');
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

async function fillTables(url: string, rows: DemoRow[]): Promise<void> {
  const db = knex({ client: 'pg', connection: url, searchPath: [DEMO_SCHEMA], pool: { min: 0, max: 1 } });
  try {
    await createShopTables(db, 'shop');
    for (const table of ['shop_productimages', 'shop_bannerimage', 'shop_subcategory'] as const) {
      const mine = rows.filter((r) => r.table === table).map((r) => ({ image: r.image }));
      for (let i = 0; i < mine.length; i += 500) await db(table).insert(mine.slice(i, i + 500));
    }
  } finally {
    await db.destroy();
  }
}
