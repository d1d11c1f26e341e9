import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import cloudinaryPkg from 'cloudinary';
import type { UploadApiResponse } from 'cloudinary';
import type { Knex } from 'knex';
import { parseCloudinaryUrl } from '../src/config/cloudinary.ts';
import { readMediaFile } from '../src/media/media-file.ts';
import { publicIdFor } from '../src/cloudinary/storage-convention.ts';
import { createCloudinaryUploader } from '../src/cloudinary/uploader.ts';
import { SOURCE_TABLE, imageName } from './world.ts';

/**
 * The things the pipeline is compared with, written here rather than in the library: the bare SDK
 * (what the emulator alone can serve), the one-at-a-time script the tool replaces, the bare
 * concurrent script a team might write instead, and a plain in-process loop with no queue and no ledger.
 */

const { v2: cloudinary } = cloudinaryPkg;

export interface LoopResult {
  images: number;
  ms: number;
  perSecond: number;
}

const result = (images: number, ms: number): LoopResult => ({ images, ms, perSecond: (images * 1000) / ms });

/** Runs `work(i)` for i in [0, count) with `concurrency` in flight. */
async function pool(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(concurrency, count) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      await work(i);
    }
  });
  await Promise.all(runners);
}

function sdkUpload(options: Record<string, unknown>, data: Buffer): Promise<UploadApiResponse> {
  return new Promise((resolve, reject) => {
    const stream = cloudinary.uploader.upload_stream({ ...options, disable_promises: true }, (err, res) => {
      if (err || !res) reject(err ?? new Error('empty answer'));
      else resolve(res);
    });
    stream.end(data);
  });
}

/**
 * The emulator alone: signed uploads straight from the SDK at a given concurrency, bytes already in
 * memory, nothing else. Whatever the pipeline reaches, it cannot beat this.
 */
export async function bareSdkLoop(cloudinaryUrl: string, files: Buffer[], count: number, concurrency: number, tag: string): Promise<LoopResult> {
  const c = parseCloudinaryUrl(cloudinaryUrl);
  const agent = new http.Agent({ keepAlive: true });
  const base = { cloud_name: c.cloudName, api_key: c.apiKey, api_secret: c.apiSecret, upload_prefix: c.uploadPrefix, agent };
  const t0 = performance.now();
  try {
    await pool(count, concurrency, async (i) => {
      await sdkUpload({ ...base, resource_type: 'image', public_id: `bare/${tag}-${i}`, overwrite: true }, files[i % files.length]!);
    });
  } finally {
    agent.destroy();
  }
  return result(count, performance.now() - t0);
}

/**
 * The approach the tool replaces (a `manage.py` loop re-saving each image): one row at a time, read
 * the file, upload it, write the new value into the row, next. Rows [0, count) in pk order.
 */
export function sequentialScript(db: Knex, mediaRoot: string, cloudinaryUrl: string, count: number): Promise<LoopResult> {
  return bareScript(db, mediaRoot, cloudinaryUrl, count, 1);
}

/**
 * The script a hurried team writes instead (the way `cld upload_dir` works): `concurrency` uploads
 * at once, each reading the file, uploading it and writing the new value into the row. No check of
 * the file, no compare-and-swap, no ledger, nothing to resume; timed from its first query to its
 * last update, in this process (no start-up of its own to pay). Rows [0, count) in pk order.
 */
export async function bareScript(db: Knex, mediaRoot: string, cloudinaryUrl: string, count: number, concurrency: number): Promise<LoopResult> {
  const c = parseCloudinaryUrl(cloudinaryUrl);
  const agent = new http.Agent({ keepAlive: true });
  const base = { cloud_name: c.cloudName, api_key: c.apiKey, api_secret: c.apiSecret, upload_prefix: c.uploadPrefix, agent };
  const t0 = performance.now();
  try {
    const rows = (await db(SOURCE_TABLE).select('id', 'image').orderBy('id').limit(count)) as { id: number; image: string }[];
    await pool(rows.length, concurrency, async (i) => {
      const row = rows[i]!;
      const data = await readFile(join(mediaRoot, row.image));
      const stem = row.image.replace(/\.[^.]+$/, '');
      const res = await sdkUpload({ ...base, resource_type: 'image', public_id: `media/${stem}`, overwrite: true, tags: ['media'] }, data);
      await db(SOURCE_TABLE).where({ id: row.id }).update({ image: res.public_id });
    });
    return result(rows.length, performance.now() - t0);
  } finally {
    agent.destroy();
  }
}

/**
 * The same work as a pipeline job minus the queue and the ledger: read and hash the file (the same
 * checks), upload it with the tool's own uploader under the same public_id, update the row. Rows
 * are handed out in pk order to `concurrency` loops in one process.
 */
export async function queuelessLoop(
  db: Knex,
  mediaRoot: string,
  cloudinaryUrl: string,
  count: number,
  concurrency: number,
): Promise<LoopResult> {
  const c = parseCloudinaryUrl(cloudinaryUrl);
  const uploader = createCloudinaryUploader(
    { cloudName: c.cloudName, apiKey: c.apiKey, apiSecret: c.apiSecret, uploadPrefix: c.uploadPrefix ?? '' },
    { timeoutMs: 60_000, chunkedAboveBytes: 20 * 1024 * 1024, chunkBytes: 20 * 1024 * 1024, rateLimitPauseMs: 60_000 },
  );
  const limits = { maxFileBytes: 10 * 1024 * 1024, keepInMemoryUpToBytes: 20 * 1024 * 1024 };
  const t0 = performance.now();
  try {
    // Keyset pages, as the producer reads them, consumed by the loops as they go.
    const pageSize = 1_000;
    let page: { id: number; image: string }[] = [];
    let pos = 0;
    let last = 0;
    let loading: Promise<void> | undefined;
    const nextRow = async (): Promise<{ id: number; image: string } | undefined> => {
      for (;;) {
        if (pos < page.length) return page[pos++];
        if (last >= count) return undefined;
        loading ??= (async () => {
          page = (await db(SOURCE_TABLE).select('id', 'image').where('id', '>', last).orderBy('id').limit(Math.min(pageSize, count - last))) as typeof page;
          pos = 0;
          last = page.length ? page[page.length - 1]!.id : count;
        })().finally(() => (loading = undefined));
        await loading;
        if (page.length === 0) return undefined;
      }
    };
    let done = 0;
    await pool(concurrency, concurrency, async () => {
      for (let row = await nextRow(); row; row = await nextRow()) {
        const file = await readMediaFile(mediaRoot, row.image, limits);
        if (!file) throw new Error(`bench: ${row.image} is missing`);
        const publicId = publicIdFor(file.name, file.md5, 'media/');
        const asset = await uploader.upload({ file, publicId, tags: ['media', 'media-migrate'] });
        await db(SOURCE_TABLE).where({ id: row.id }).where({ image: row.image }).update({ image: asset.publicId });
        done++;
      }
    });
    return result(done, performance.now() - t0);
  } finally {
    uploader.close();
  }
}

/** The files of rows [0, n): what the bare SDK loop uploads. */
export async function loadImages(mediaRoot: string, n: number): Promise<Buffer[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => readFile(join(mediaRoot, imageName(i)))));
}
