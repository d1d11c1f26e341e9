import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { v2 as cloudinary, type UploadApiResponse } from 'cloudinary';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  deliveryUrlOptions,
  sdkOptions,
  startEmulator,
  type Emulator,
  type EmulatorOptions,
} from '../src/emulator/server.ts';
import { gifBytes, jpegHeaderBytes, largePngBytes, pngBytes } from './helpers/images.ts';
import { ebmlHeader, id3Header, isoMedia, mp4Bytes, oggPage, padded, pdfBytes, riff } from './helpers/media-headers.ts';

/**
 * The emulator's faithfulness to Cloudinary, one piece: each describe is one API (upload, chunks,
 * delivery, Admin, destroy, tags, faults) driven through the official SDK against one emulator.
 */

// One keep-alive agent for every SDK call, as the project does. It must be an http.Agent: that
// is what makes the SDK's `https.request` speak plain HTTP to the emulator.
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
let workDir = '';

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'emulator-test-'));
});

afterAll(async () => {
  agent.destroy();
  await rm(workDir, { recursive: true, force: true });
});

const running: Emulator[] = [];

async function emulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const emu = await startEmulator(opts);
  running.push(emu);
  return emu;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.close()));
});

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

function opts(emu: Emulator, extra: Record<string, unknown> = {}) {
  return { ...sdkOptions(emu, agent), ...extra };
}

async function tempFile(name: string, data: Buffer | string): Promise<string> {
  const file = path.join(workDir, `${Date.now()}-${Math.random().toString(36).slice(2)}-${name}`);
  await writeFile(file, data);
  return file;
}

/** upload_stream answers only through its callback (the SDK returns the stream, not a promise). */
function uploadBuffer(emu: Emulator, data: Buffer, extra: Record<string, unknown> = {}): Promise<UploadApiResponse> {
  return new Promise((resolve, reject) => {
    const stream = cloudinary.uploader.upload_stream(opts(emu, extra), (err, result) => {
      if (err || !result) reject(err);
      else resolve(result);
    });
    stream.end(data);
  });
}

/** Upload API rejections are `{message, http_code}`; Admin API ones nest it as `{error: {...}}`. */
interface SdkFailure {
  message: string;
  http_code: number;
}

async function failure(promise: Promise<unknown>): Promise<SdkFailure> {
  try {
    await promise;
  } catch (err) {
    const e = err as { error?: SdkFailure } & SdkFailure;
    return e.error ?? e;
  }
  throw new Error('expected the call to fail');
}

function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

describe('signed uploads through the official SDK', () => {
  it('answers the real upload fields, and the secure_url serves the same bytes with an MD5 ETag', async () => {
    const emu = await emulator();
    const bytes = pngBytes(31, 17, 1);
    const file = await tempFile('holiday photo.png', bytes);
    const before = unixNow();

    const r = await cloudinary.uploader.upload(file, opts(emu, { public_id: 'x', overwrite: false }));

    expect(r.asset_id).toMatch(/^[0-9a-f]{32}$/);
    expect(r.public_id).toBe('x');
    expect(r.version).toBeGreaterThanOrEqual(before);
    expect(r.version_id).toMatch(/^[0-9a-f]{32}$/);
    expect(r.signature).toBe(cloudinary.utils.api_sign_request({ public_id: 'x', version: r.version }, emu.apiSecret));
    expect(r.width).toBe(31);
    expect(r.height).toBe(17);
    expect(r.format).toBe('png');
    expect(r.resource_type).toBe('image');
    expect(r.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(r.tags).toEqual([]);
    expect(r.bytes).toBe(bytes.length);
    expect(r.type).toBe('upload');
    expect(r.etag).toBe(md5(bytes));
    expect(r.placeholder).toBe(false);
    expect(r.url).toBe(`${emu.url}/demo/image/upload/v${r.version}/x.png`);
    expect(r.secure_url).toBe(r.url);
    expect(r.original_filename).toMatch(/holiday photo$/);
    expect(r.api_key).toBe(emu.apiKey);
    expect(r.existing).toBe(false);

    const res = await fetch(r.secure_url);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(`"${md5(bytes)}"`);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);

    const stored = emu.assets.get('x');
    expect(stored?.etag).toBe(md5(bytes));
    expect(stored?.data.equals(bytes)).toBe(true);
    expect(emu.stats()).toMatchObject({ uploadRequests: 1, created: 1, existing: 0, overwritten: 0, createdByPublicId: { x: 1 } });
  });

  it('uploads a Buffer through upload_stream with folder and tags', async () => {
    const emu = await emulator();
    const bytes = gifBytes(9, 4, 2);
    const r = await uploadBuffer(emu, bytes, { public_id: 'cat', folder: 'media/2024', tags: ['migrated', 'batch-1'] });
    expect(r.public_id).toBe('media/2024/cat');
    expect(r.format).toBe('gif');
    expect([r.width, r.height]).toEqual([9, 4]);
    expect(r.tags).toEqual(['migrated', 'batch-1']);
    expect(r.original_filename).toBe('file');
    expect(emu.assets.get('media/2024/cat')?.tags).toEqual(['migrated', 'batch-1']);
  });

  it('accepts a data URI as the file', async () => {
    const emu = await emulator();
    const bytes = jpegHeaderBytes(640, 480, 5);
    const r = await cloudinary.uploader.upload(`data:image/jpeg;base64,${bytes.toString('base64')}`, opts(emu, { public_id: 'datauri' }));
    expect(r).toMatchObject({ public_id: 'datauri', format: 'jpg', width: 640, height: 480, etag: md5(bytes) });
  });

  it('overwrite:false on an existing public_id answers existing:true and leaves the asset untouched', async () => {
    const emu = await emulator();
    const first = pngBytes(8, 8, 10);
    const second = pngBytes(8, 8, 11);
    expect(md5(first)).not.toBe(md5(second));

    const a = await uploadBuffer(emu, first, { public_id: 'media/cat', overwrite: false });
    const b = await uploadBuffer(emu, second, { public_id: 'media/cat', overwrite: false });

    expect(b.existing).toBe(true);
    expect(b.etag).toBe(a.etag);
    expect(b.version).toBe(a.version);
    expect(b.asset_id).toBe(a.asset_id);
    expect(emu.assets.get('media/cat')?.data.equals(first)).toBe(true);
    expect(emu.stats()).toMatchObject({ created: 1, existing: 1, overwritten: 0, createdByPublicId: { 'media/cat': 1 } });
  });

  it('overwrites by default, keeping asset_id and bumping the version', async () => {
    const emu = await emulator();
    const a = await uploadBuffer(emu, pngBytes(4, 4, 1), { public_id: 'p' });
    const b = await uploadBuffer(emu, pngBytes(4, 4, 2), { public_id: 'p' });
    expect(b.existing).toBeUndefined();
    expect(b.asset_id).toBe(a.asset_id);
    expect(b.version).toBeGreaterThan(a.version);
    expect(b.etag).not.toBe(a.etag);
    expect(emu.stats()).toMatchObject({ created: 1, overwritten: 1 });
  });

  it('names assets from use_filename/unique_filename, or randomly', async () => {
    const emu = await emulator();
    const file = await tempFile('sunset.png', pngBytes(3, 3, 7));
    const unique = await cloudinary.uploader.upload(file, opts(emu, { use_filename: true }));
    expect(unique.public_id).toMatch(/sunset_[a-z0-9]{6}$/);
    const exact = await cloudinary.uploader.upload(file, opts(emu, { use_filename: true, unique_filename: false, folder: 'f' }));
    expect(exact.public_id).toMatch(/^f\/.*sunset$/);
    const random = await cloudinary.uploader.upload(file, opts(emu));
    expect(random.public_id).toMatch(/^[a-z0-9]{20}$/);
  });

  it('refuses a wrong secret with 401 Invalid Signature, quoting the string to sign', async () => {
    const emu = await emulator();
    const err = await failure(uploadBuffer(emu, pngBytes(2, 2), { api_secret: 'wrong', public_id: 'a&b=c' }));
    expect(err.http_code).toBe(401);
    expect(err.message).toMatch(/^Invalid Signature [0-9a-f]{40}\. String to sign - 'public_id=a%26b=c&timestamp=\d+'\.$/);
    expect(emu.stats().rejected).toEqual({ '401': 1 });
    expect(emu.assets.size).toBe(0);
  });

  it('accepts sha256 signatures', async () => {
    const emu = await emulator();
    const r = await uploadBuffer(emu, pngBytes(2, 2), { public_id: 's256', signature_algorithm: 'sha256' });
    expect(r.public_id).toBe('s256');
  });

  it('refuses an unknown api_key with 401', async () => {
    const emu = await emulator();
    const err = await failure(uploadBuffer(emu, pngBytes(2, 2), { api_key: '999' }));
    expect(err).toMatchObject({ http_code: 401, message: 'Unknown API key 999' });
  });

  it('refuses a correctly signed but stale timestamp with 400 Stale request', async () => {
    const emu = await emulator();
    const err = await failure(uploadBuffer(emu, pngBytes(2, 2), { timestamp: unixNow() - 2 * 3600 }));
    expect(err.http_code).toBe(400);
    expect(err.message).toMatch(/^Stale request - reported time is \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 which is more than 1 hour ago$/);
  });

  it('refuses a text file as an image with 400 Invalid image file', async () => {
    const emu = await emulator();
    const file = await tempFile('notes.txt', 'just some text\n');
    const err = await failure(cloudinary.uploader.upload(file, opts(emu, { public_id: 'notes' })));
    expect(err).toMatchObject({ http_code: 400, message: 'Invalid image file' });
    // The same file is fine as raw; raw public_ids keep their extension when generated.
    const raw = await cloudinary.uploader.upload(file, opts(emu, { resource_type: 'raw', use_filename: true, unique_filename: false }));
    expect(raw.public_id).toMatch(/notes\.txt$/);
    expect(raw.resource_type).toBe('raw');
  });

  it('refuses uploads over maxImageBytes with the real message', async () => {
    const emu = await emulator({ maxImageBytes: 1000 });
    const bytes = pngBytes(40, 40, 3);
    expect(bytes.length).toBeGreaterThan(1000);
    const err = await failure(uploadBuffer(emu, bytes));
    expect(err).toMatchObject({ http_code: 400, message: `File size too large. Got ${bytes.length}. Maximum is 1000.` });
  });

  it('refuses public_ids with forbidden characters', async () => {
    const emu = await emulator();
    for (const bad of ['a?b', 'a#b', 'a%b', 'a+b', '/lead', 'trail/', ' pad']) {
      const err = await failure(uploadBuffer(emu, pngBytes(2, 2), { public_id: bad }));
      expect(err.http_code, bad).toBe(400);
    }
    expect(emu.assets.size).toBe(0);
  });

  it('answers 404 for an unknown cloud name', async () => {
    const emu = await emulator();
    const err = await failure(uploadBuffer(emu, pngBytes(2, 2), { cloud_name: 'other' }));
    expect(err.http_code).toBe(404);
  });
});

describe('fault injection', () => {
  it('errorRate 1 rejects with http_code 500 General Error', async () => {
    const emu = await emulator({ faults: { errorRate: 1 } });
    const err = await failure(uploadBuffer(emu, pngBytes(2, 2)));
    expect(err).toMatchObject({ http_code: 500, message: 'General Error' });
    expect(emu.stats()).toMatchObject({ uploadRequests: 1, created: 0, rejected: { '500': 1 }, injected: { errors: 1 } });
  });

  it('rateLimitRate 1 answers 420 with a parseable "Try again on" date', async () => {
    const emu = await emulator({ faults: { rateLimitRate: 1, rateLimitRetryAfterMs: 5000 } });
    const before = Date.now();
    const err = await failure(uploadBuffer(emu, pngBytes(2, 2)));
    expect(err.http_code).toBe(420);
    const m = /^Rate Limit Exceeded\. Try again on (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC$/.exec(err.message);
    expect(m).not.toBeNull();
    const retryAt = Date.parse(`${m?.[1]?.replace(' ', 'T')}Z`);
    expect(retryAt).toBeGreaterThanOrEqual(before + 5000 - 1000);
    expect(retryAt).toBeLessThanOrEqual(Date.now() + 5000 + 1000);
    expect(emu.stats().injected.rateLimited).toBe(1);
  });

  it('hangRate 1 never answers: the SDK timeout rejects with 499 and close() is prompt', async () => {
    const emu = await emulator({ faults: { hangRate: 1 } });
    const err = await failure(uploadBuffer(emu, pngBytes(2, 2), { timeout: 500 }));
    expect(err).toMatchObject({ http_code: 499, message: 'Request Timeout' });
    expect(emu.stats().injected.hangs).toBe(1);
    expect(emu.assets.size).toBe(0);

    // A hang the client is still waiting on must not hold close() up.
    const pending = failure(uploadBuffer(emu, pngBytes(2, 2), { timeout: 30_000 }));
    await new Promise((r) => setTimeout(r, 100));
    const t = Date.now();
    await emu.close();
    expect(Date.now() - t).toBeLessThan(1000);
    await pending;
  });

  it('adds latency plus jitter to upload and admin answers, not to delivery', async () => {
    const emu = await emulator({ faults: { latencyMs: 500, latencyJitterMs: 50 } });
    let t = Date.now();
    const r = await uploadBuffer(emu, pngBytes(2, 2), { public_id: 'slow' });
    expect(Date.now() - t).toBeGreaterThanOrEqual(495);
    t = Date.now();
    await cloudinary.api.ping(opts(emu));
    expect(Date.now() - t).toBeGreaterThanOrEqual(495);
    t = Date.now();
    await (await fetch(r.url)).arrayBuffer();
    expect(Date.now() - t).toBeLessThan(400);
  });

  it('repeats the same fault sequence for the same seed', async () => {
    const outcomes = async (seed: number) => {
      const emu = await emulator({ seed, faults: { errorRate: 0.5 } });
      const seen: string[] = [];
      for (let i = 0; i < 12; i++) {
        seen.push(await uploadBuffer(emu, pngBytes(2, 2, i)).then(() => 'ok', (e: SdkFailure) => String(e.http_code)));
      }
      return seen.join(',');
    };
    const a = await outcomes(42);
    expect(await outcomes(42)).toBe(a);
    expect(a).toContain('500');
    expect(a).toContain('ok');
  });

  it('keeps up with 128 concurrent uploads at 250 ms latency', async () => {
    const emu = await emulator({ faults: { latencyMs: 250 } });
    const t = Date.now();
    const results = await Promise.all(
      Array.from({ length: 128 }, (_, i) => uploadBuffer(emu, pngBytes(16, 16, i), { public_id: `c/${i}`, overwrite: false })),
    );
    const elapsed = Date.now() - t;
    expect(new Set(results.map((r) => r.public_id)).size).toBe(128);
    expect(emu.stats().created).toBe(128);
    expect(elapsed).toBeLessThan(3000);
  });
});

describe('chunked uploads', () => {
  it('assembles upload_large chunks into one asset with the right etag and bytes', async () => {
    const emu = await emulator();
    const bytes = largePngBytes(12 * 1024 * 1024, 7);
    const file = await tempFile('big.png', bytes);

    const r = await new Promise<UploadApiResponse>((resolve, reject) => {
      // upload_large defaults to resource_type raw and returns a stream: answer via callback.
      cloudinary.uploader.upload_large(
        file,
        opts(emu, { resource_type: 'image', chunk_size: 5 * 1024 * 1024, public_id: 'big', overwrite: false }),
        (err, result) => (err || !result ? reject(err) : resolve(result)),
      );
    });

    expect(r).toMatchObject({ public_id: 'big', bytes: bytes.length, etag: md5(bytes), width: 1024, format: 'png', original_filename: expect.stringMatching(/big$/) });
    expect(emu.stats()).toMatchObject({ uploadRequests: 3, created: 1 });
    expect(emu.assets.get('big')?.data.equals(bytes)).toBe(true);
  });

  /** A hand-made chunk request, to look at the answers the SDK hides. */
  async function postChunk(emu: Emulator, chunk: Buffer, range: string, uploadId: string, publicId: string) {
    const params = { public_id: publicId, timestamp: unixNow() };
    const form = new FormData();
    form.set('public_id', publicId);
    form.set('timestamp', String(params.timestamp));
    form.set('api_key', emu.apiKey);
    form.set('signature', cloudinary.utils.api_sign_request(params, emu.apiSecret));
    form.set('file', new Blob([chunk]), 'part.png');
    const res = await fetch(`${emu.url}/v1_1/${emu.cloudName}/image/upload`, {
      method: 'POST',
      body: form,
      headers: { 'Content-Range': range, 'X-Unique-Upload-Id': uploadId },
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('answers intermediate chunks with {done:false, bytes} and accepts chunks out of order', async () => {
    const emu = await emulator({ minChunkBytes: 1000 });
    const bytes = pngBytes(60, 60, 9);
    const a = bytes.subarray(0, 4000);
    const b = bytes.subarray(4000, 8000);
    const c = bytes.subarray(8000);

    const second = await postChunk(emu, b, `bytes 4000-7999/-1`, 'u1', 'pieces');
    expect(second).toEqual({ status: 200, body: { done: false, bytes: 4000, kind: 'upload', resource_type: 'image', public_id: 'pieces' } });
    const first = await postChunk(emu, a, `bytes 0-3999/-1`, 'u1', 'pieces');
    expect(first.body).toMatchObject({ done: false, bytes: 8000 });
    expect(emu.assets.size).toBe(0);

    const last = await postChunk(emu, c, `bytes 8000-${bytes.length - 1}/${bytes.length}`, 'u1', 'pieces');
    expect(last.status).toBe(200);
    expect(last.body).toMatchObject({ public_id: 'pieces', bytes: bytes.length, etag: md5(bytes), width: 60, height: 60 });
  });

  it('refuses non-final chunks under the minimum chunk size and incomplete uploads', async () => {
    const emu = await emulator({ minChunkBytes: 5000 });
    const bytes = pngBytes(60, 60, 9);
    const small = await postChunk(emu, bytes.subarray(0, 4000), 'bytes 0-3999/-1', 'u2', 'p');
    expect(small.status).toBe(400);
    const gap = await postChunk(emu, bytes.subarray(6000), `bytes 6000-${bytes.length - 1}/${bytes.length}`, 'u3', 'p');
    expect(gap.status).toBe(400);
    expect(String((gap.body.error as { message: string }).message)).toMatch(/^Upload incomplete/);
  });
});

describe('destroy', () => {
  it('answers ok, then not found', async () => {
    const emu = await emulator();
    const r = await uploadBuffer(emu, pngBytes(2, 2), { public_id: 'gone/soon' });
    expect(await cloudinary.uploader.destroy('gone/soon', { ...opts(emu), invalidate: true })).toEqual({ result: 'ok' });
    expect(await cloudinary.uploader.destroy('gone/soon', { ...opts(emu), invalidate: true })).toEqual({ result: 'not found' });
    expect(emu.assets.has('gone/soon')).toBe(false);
    expect((await fetch(r.url)).status).toBe(404);

    // Recreating shows up as a second creation of the same public_id.
    await uploadBuffer(emu, pngBytes(2, 2), { public_id: 'gone/soon' });
    expect(emu.stats()).toMatchObject({ destroyed: 1, created: 2, createdByPublicId: { 'gone/soon': 2 } });
  });

  it('is signed like uploads', async () => {
    const emu = await emulator();
    const err = await failure(cloudinary.uploader.destroy('x', { ...opts(emu, { api_secret: 'nope' }), invalidate: true }));
    expect(err.http_code).toBe(401);
  });
});

describe('Admin API', () => {
  it('pings', async () => {
    const emu = await emulator();
    const r = await cloudinary.api.ping(opts(emu));
    expect(r.status).toBe('ok');
    expect(emu.stats().adminCalls).toBe(1);
  });

  it('resources_by_ids lists only existing assets, without etag, with rate-limit headers', async () => {
    const emu = await emulator();
    const a = await uploadBuffer(emu, pngBytes(5, 6, 1), { public_id: 'media/a b', tags: 't1' });
    await uploadBuffer(emu, pngBytes(5, 6, 2), { public_id: 'media/c' });

    const r = await cloudinary.api.resources_by_ids(['media/a b', 'media/missing', 'media/c'], opts(emu));
    expect(r.resources.map((x) => x.public_id)).toEqual(['media/a b', 'media/c']);
    const first = r.resources[0] as unknown as Record<string, unknown>;
    expect(first).toMatchObject({
      asset_id: a.asset_id,
      public_id: 'media/a b',
      format: 'png',
      version: a.version,
      resource_type: 'image',
      type: 'upload',
      created_at: a.created_at,
      bytes: a.bytes,
      width: 5,
      height: 6,
      url: a.url,
      secure_url: a.secure_url,
    });
    expect(first).not.toHaveProperty('etag');
    expect(first).not.toHaveProperty('tags');
    // The SDK turns the X-FeatureRateLimit-* headers into these fields.
    expect(r.rate_limit_allowed).toBe(500);
    expect(r.rate_limit_remaining).toBe(499);
    expect(r.rate_limit_reset_at).toBeInstanceOf(Date);
    expect((r.rate_limit_reset_at as unknown as Date).getTime()).toBeGreaterThan(Date.now());

    const withTags = await cloudinary.api.resources_by_ids(['media/a b'], opts(emu, { tags: true }));
    expect(withTags.resources[0]?.tags).toEqual(['t1']);
  });

  it('refuses more than 100 public_ids with 400', async () => {
    const emu = await emulator();
    const ids = Array.from({ length: 101 }, (_, i) => `id${i}`);
    const err = await failure(cloudinary.api.resources_by_ids(ids, opts(emu)));
    expect(err.http_code).toBe(400);
    const ok = await cloudinary.api.resources_by_ids(ids.slice(0, 100), opts(emu));
    expect(ok.resources).toEqual([]);
  });

  it('refuses bad credentials with 401', async () => {
    const emu = await emulator();
    expect((await failure(cloudinary.api.ping(opts(emu, { api_secret: 'bad' })))).http_code).toBe(401);
    expect((await failure(cloudinary.api.ping(opts(emu, { api_key: '1' })))).message).toBe('Unknown API key 1');
  });

  it('answers 420 past adminHourlyLimit calls in the hour', async () => {
    const emu = await emulator({ adminHourlyLimit: 3 });
    for (let i = 0; i < 3; i++) await cloudinary.api.ping(opts(emu));
    const err = await failure(cloudinary.api.ping(opts(emu)));
    expect(err.http_code).toBe(420);
    expect(err.message).toMatch(/^Rate Limit Exceeded\. Try again on \d{4}-\d\d-\d\d \d\d:00:00 UTC$/);
    expect(emu.stats()).toMatchObject({ adminCalls: 4, rejected: { '420': 1 } });

    const raw = await fetch(`${emu.url}/v1_1/demo/ping`, {
      headers: { Authorization: `Basic ${Buffer.from(`${emu.apiKey}:${emu.apiSecret}`).toString('base64')}` },
    });
    expect(raw.status).toBe(420);
    expect(raw.headers.get('x-featureratelimit-limit')).toBe('3');
    expect(raw.headers.get('x-featureratelimit-remaining')).toBe('0');
    expect(Date.parse(raw.headers.get('x-featureratelimit-reset') ?? '')).toBeGreaterThan(Date.now());
  });

  it('pages resources_by_tag with next_cursor', async () => {
    const emu = await emulator();
    for (let i = 0; i < 25; i++) await uploadBuffer(emu, pngBytes(2, 2, i), { public_id: `tagged/${i}`, tags: 'batch' });
    await uploadBuffer(emu, pngBytes(2, 2, 99), { public_id: 'untagged' });

    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await cloudinary.api.resources_by_tag('batch', opts(emu, cursor ? { next_cursor: cursor } : {}));
      sizes.push(page.resources.length);
      seen.push(...page.resources.map((r) => r.public_id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(sizes).toEqual([10, 10, 5]);
    expect(new Set(seen).size).toBe(25);
    expect(seen[0]).toBe('tagged/24'); // newest first

    const big = await cloudinary.api.resources_by_tag('batch', opts(emu, { max_results: 500 }));
    expect(big.resources).toHaveLength(25);
    expect(big.next_cursor).toBeUndefined();
  });

  it('delete_resources reports deleted and not_found ids', async () => {
    const emu = await emulator();
    await uploadBuffer(emu, pngBytes(2, 2, 1), { public_id: 'd/1' });
    const r = await cloudinary.api.delete_resources(['d/1', 'd/2'], opts(emu));
    expect(r.deleted).toEqual({ 'd/1': 'deleted', 'd/2': 'not_found' });
    expect(r.partial).toBe(false);
    expect(emu.assets.size).toBe(0);
    expect(emu.stats().destroyed).toBe(1);
  });
});

describe('delivery', () => {
  it('serves GET and HEAD with and without version and extension', async () => {
    const emu = await emulator();
    const bytes = pngBytes(12, 12, 4);
    const r = await uploadBuffer(emu, bytes, { public_id: 'media/products/shoe' });
    const etag = `"${md5(bytes)}"`;
    const base = `${emu.url}/demo/image/upload`;

    for (const url of [
      `${base}/v${r.version}/media/products/shoe.png`,
      `${base}/media/products/shoe`,
      `${base}/media/products/shoe.png`,
      `${base}/v1/media/products/shoe`,
      `${base}/c_fill,w_100/v1/media/products/shoe.jpg`,
    ]) {
      const head = await fetch(url, { method: 'HEAD' });
      expect(head.status, url).toBe(200);
      expect(head.headers.get('etag')).toBe(etag);
      expect(head.headers.get('content-length')).toBe(String(bytes.length));
      const get = await fetch(url);
      expect(Buffer.from(await get.arrayBuffer()).equals(bytes)).toBe(true);
    }

    const missing = await fetch(`${base}/media/products/nope`, { method: 'HEAD' });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-cld-error')).toBe('Resource not found');

    const cached = await fetch(`${base}/media/products/shoe`, { headers: { 'If-None-Match': etag } });
    expect(cached.status).toBe(304);
  });

  it('resolves URLs built by cloudinary.url() with deliveryUrlOptions()', async () => {
    const emu = await emulator();
    const bytes = pngBytes(7, 7, 8);
    const r = await uploadBuffer(emu, bytes, { public_id: 'media/avatars/me' });

    expect(cloudinary.url(r.public_id, { ...deliveryUrlOptions(emu), version: String(r.version), format: r.format })).toBe(r.url);
    // How django-cloudinary-storage builds image.url: no version, no extension.
    const plain = cloudinary.url(r.public_id, deliveryUrlOptions(emu));
    expect(plain.startsWith(`${emu.url}/demo/image/upload/`)).toBe(true);
    const transformed = cloudinary.url(r.public_id, { ...deliveryUrlOptions(emu), width: 50, crop: 'scale' });

    for (const url of [plain, transformed]) {
      const res = await fetch(url, { method: 'HEAD' });
      expect(res.status, url).toBe(200);
      expect(res.headers.get('etag')).toBe(`"${md5(bytes)}"`);
    }
  });
});

describe('delivery as Cloudinary resolves <public_id>.<ext>', () => {
  it('reads the last extension as the format, the rest as the public_id', async () => {
    const emu = await emulator();
    const gif = gifBytes(6, 6, 3);
    await uploadBuffer(emu, gif, { public_id: 'media/products/anim' });
    const dotted = pngBytes(4, 4, 5);
    await uploadBuffer(emu, dotted, { public_id: 'media/products/archive.v2' });
    const base = `${emu.url}/demo/image/upload`;

    const asGif = await fetch(`${base}/v1/media/products/anim.gif`);
    expect(asGif.headers.get('content-type')).toBe('image/gif');
    expect(asGif.headers.get('x-emulator-format')).toBeNull();
    // A GIF asked for as .jpg: Cloudinary delivers a JPEG; the emulator says it did not convert.
    const asJpg = await fetch(`${base}/v1/media/products/anim.jpg`);
    expect(asJpg.status).toBe(200);
    expect(asJpg.headers.get('content-type')).toBe('image/jpeg');
    expect(asJpg.headers.get('x-emulator-format')).toBe('jpg asked, gif served (not converted)');
    expect(Buffer.from(await asJpg.arrayBuffer()).equals(gif)).toBe(true);
    // A public_id with a dot of its own: only the last extension is the format.
    const res = await fetch(`${base}/v1/media/products/archive.v2.png`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(dotted)).toBe(true);
    // The extension is not part of the public_id: an asset named with it is another asset.
    expect((await fetch(`${base}/v1/media/products/anim.gif.gif`)).status).toBe(404);
    // So an id that keeps its extension is reached only with a second one.
    await uploadBuffer(emu, pngBytes(4, 4, 6), { public_id: 'media/products/shoe.png' });
    expect((await fetch(`${base}/v1/media/products/shoe.png`, { method: 'HEAD' })).status).toBe(404);
    expect((await fetch(`${base}/v1/media/products/shoe.png.png`, { method: 'HEAD' })).status).toBe(200);
  });
});

describe('tags (Upload API)', () => {
  it('adds and removes tags on up to 1,000 public_ids a call, answering the ones that exist', async () => {
    const emu = await emulator();
    await uploadBuffer(emu, pngBytes(3, 3, 1), { public_id: 'media/a', tags: ['media-migrate'] });
    await uploadBuffer(emu, pngBytes(3, 3, 2), { public_id: 'media/b' });
    const added = await cloudinary.uploader.add_tag('media', ['media/a', 'media/b', 'media/nope'], opts(emu) as never);
    expect(added).toEqual({ public_ids: ['media/a', 'media/b'] });
    expect(emu.assets.get('media/a')?.tags).toEqual(['media-migrate', 'media']);
    expect(emu.assets.get('media/b')?.tags).toEqual(['media']);
    const byTag = await cloudinary.api.resources_by_tag('media', opts(emu) as never);
    expect(byTag.resources.map((r: { public_id: string }) => r.public_id).sort()).toEqual(['media/a', 'media/b']);
    await cloudinary.uploader.remove_tag('media', ['media/a'], opts(emu) as never);
    expect(emu.assets.get('media/a')?.tags).toEqual(['media-migrate']);
    expect(emu.stats().tagCalls).toBe(2);

    const tooMany = Array.from({ length: 1_001 }, (_, i) => `x${i}`);
    await expect(cloudinary.uploader.add_tag('media', tooMany, opts(emu) as never)).rejects.toMatchObject({ http_code: 400 });
    await expect(cloudinary.uploader.add_tag('media', ['media/a'], { ...opts(emu), api_secret: 'wrong-secret' } as never)).rejects.toMatchObject({ http_code: 401 });
  });
});

describe('raw assets', () => {
  it('keeps the extension in the public_id, answers no format or size, and delivers at the id as it is', async () => {
    const emu = await emulator();
    const bytes = pdfBytes(3);
    const file = await tempFile('guide.pdf', bytes);
    const id = 'media/manuals/guide_x1y2z3.pdf';
    const r = await cloudinary.uploader.upload(file, opts(emu, { resource_type: 'raw', public_id: id, overwrite: false, tags: 'media' }));

    expect(r).toMatchObject({ public_id: id, resource_type: 'raw', type: 'upload', bytes: bytes.length, etag: md5(bytes), tags: ['media'], existing: false });
    expect(r).not.toHaveProperty('format');
    expect(r).not.toHaveProperty('width');
    expect(r).not.toHaveProperty('height');
    expect(r.secure_url).toBe(`${emu.url}/demo/raw/upload/v${r.version}/${id}`);
    expect(emu.assetsOf('raw').get(id)?.data.equals(bytes)).toBe(true);
    expect(emu.assets.has(id)).toBe(false);

    // How the storage classes build the URL: the SDK adds v1 for an id with a folder.
    const sdkUrl = cloudinary.url(id, { ...deliveryUrlOptions(emu), resource_type: 'raw' });
    expect(sdkUrl).toBe(`${emu.url}/demo/raw/upload/v1/${id}`);
    for (const url of [r.secure_url, sdkUrl]) {
      const res = await fetch(url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('etag')).toBe(`"${md5(bytes)}"`);
      expect(res.headers.get('content-type')).toBe('application/pdf');
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    }
    // Nothing is stripped or appended for raw: without the extension it is another (absent) asset.
    expect((await fetch(`${emu.url}/demo/raw/upload/v1/media/manuals/guide_x1y2z3`, { method: 'HEAD' })).status).toBe(404);
    expect((await fetch(`${emu.url}/demo/raw/upload/v1/${id}.pdf`, { method: 'HEAD' })).status).toBe(404);
    expect((await fetch(`${emu.url}/demo/image/upload/v1/${id}`, { method: 'HEAD' })).status).toBe(404);

    const again = await cloudinary.uploader.upload(file, opts(emu, { resource_type: 'raw', public_id: id, overwrite: false }));
    expect(again).toMatchObject({ existing: true, version: r.version, etag: r.etag });
  });

  it('takes any non-empty bytes, an image included, and stays raw', async () => {
    const emu = await emulator();
    const png = pngBytes(3, 3, 4);
    const r = await uploadBuffer(emu, png, { resource_type: 'raw', public_id: 'media/files/pic.png' });
    expect(r).toMatchObject({ resource_type: 'raw', public_id: 'media/files/pic.png' });
    expect(r).not.toHaveProperty('width');
    const text = await uploadBuffer(emu, Buffer.from('a,b\n1,2\n'), { resource_type: 'raw', public_id: 'media/files/t.csv' });
    expect(text.resource_type).toBe('raw');
    expect(emu.assets.size).toBe(0);
    expect((await fetch(r.secure_url)).headers.get('content-type')).toBe('image/png');
    expect(await failure(uploadBuffer(emu, Buffer.alloc(0), { resource_type: 'raw' }))).toMatchObject({ http_code: 400, message: 'Empty file' });
  });
});

describe('video assets', () => {
  it('stores a video without extension in its id, with the format its content says', async () => {
    const emu = await emulator();
    const bytes = mp4Bytes(4096, 5);
    const file = await tempFile('intro.mp4', bytes);
    const r = await cloudinary.uploader.upload(file, opts(emu, { resource_type: 'video', public_id: 'media/clips/intro', overwrite: false, tags: 'media' }));

    expect(r).toMatchObject({ public_id: 'media/clips/intro', resource_type: 'video', format: 'mp4', bytes: bytes.length, etag: md5(bytes), existing: false });
    expect(r).not.toHaveProperty('width');
    expect(r.secure_url).toBe(`${emu.url}/demo/video/upload/v${r.version}/media/clips/intro.mp4`);
    expect(cloudinary.url(r.public_id, { ...deliveryUrlOptions(emu), resource_type: 'video', version: String(r.version), format: 'mp4' })).toBe(r.secure_url);

    const base = `${emu.url}/demo/video/upload`;
    for (const url of [r.secure_url, `${base}/v1/media/clips/intro.mp4`, `${base}/v1/media/clips/intro`]) {
      const res = await fetch(url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('etag')).toBe(`"${md5(bytes)}"`);
      expect(res.headers.get('content-type')).toBe('video/mp4');
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    }
    // The extension asks for a format; the emulator does not transcode and says so.
    const webm = await fetch(`${base}/v1/media/clips/intro.webm`, { method: 'HEAD' });
    expect(webm.headers.get('content-type')).toBe('video/webm');
    expect(webm.headers.get('x-emulator-format')).toBe('webm asked, mp4 served (not converted)');
    expect((await fetch(`${base}/v1/media/clips/intro.mp4.mp4`, { method: 'HEAD' })).status).toBe(404);
    expect((await fetch(`${emu.url}/demo/image/upload/v1/media/clips/intro.mp4`, { method: 'HEAD' })).status).toBe(404);

    const named = await cloudinary.uploader.upload(file, opts(emu, { resource_type: 'video', use_filename: true, folder: 'media/clips' }));
    expect(named.public_id).toMatch(/^media\/clips\/.*intro_[a-z0-9]{6}$/);
    expect(emu.assetsOf('video').size).toBe(2);
  });

  it('reads the container from the bytes: video and audio formats', async () => {
    const emu = await emulator();
    const cases: [Buffer, string][] = [
      [padded(ebmlHeader('webm'), 3000, 1), 'webm'],
      [padded(ebmlHeader('matroska'), 3000, 2), 'mkv'],
      [isoMedia('qt  ', 3000, 3, ['qt  ']), 'mov'],
      [padded(riff('AVI '), 3000, 4), 'avi'],
      [padded(oggPage('theora'), 3000, 5), 'ogv'],
      [padded(id3Header(), 3000, 6), 'mp3'],
      [padded(riff('WAVE'), 3000, 7), 'wav'],
      [isoMedia('M4A ', 3000, 8, ['M4A ', 'isom']), 'm4a'],
    ];
    for (const [bytes, format] of cases) {
      const r = await uploadBuffer(emu, bytes, { resource_type: 'video', public_id: `media/av/${format}` });
      expect([r.resource_type, r.format], format).toEqual(['video', format]);
      expect(r.secure_url).toBe(`${emu.url}/demo/video/upload/v${r.version}/media/av/${format}.${format}`);
    }
  });

  it('refuses anything but video or audio with 400 Unsupported video format or file', async () => {
    const emu = await emulator();
    const pdf = await tempFile('clip.mp4', pdfBytes());
    const failures = await Promise.all([
      failure(cloudinary.uploader.upload(pdf, opts(emu, { resource_type: 'video', public_id: 'media/clips/fake' }))),
      failure(uploadBuffer(emu, pngBytes(4, 4), { resource_type: 'video' })),
      failure(uploadBuffer(emu, Buffer.from('not a movie'), { resource_type: 'video' })),
    ]);
    for (const f of failures) expect(f).toMatchObject({ http_code: 400, message: 'Unsupported video format or file' });
    expect(emu.assetsOf('video').size + emu.assetsOf('raw').size + emu.assets.size).toBe(0);
  });

  it('auto: image, then video, then raw, by content not by name', async () => {
    const emu = await emulator();
    const mp4 = await uploadBuffer(emu, mp4Bytes(), { resource_type: 'auto', public_id: 'a/v' });
    const png = await uploadBuffer(emu, pngBytes(2, 2), { resource_type: 'auto', public_id: 'a/i' });
    const txt = await cloudinary.uploader.upload(await tempFile('x.mp4', 'text'), opts(emu, { resource_type: 'auto', public_id: 'a/t' }));
    expect([mp4.resource_type, png.resource_type, txt.resource_type]).toEqual(['video', 'image', 'raw']);
  });
});

describe('chunked uploads of video and raw', () => {
  function uploadLarge(emu: Emulator, file: string, extra: Record<string, unknown>): Promise<UploadApiResponse> {
    return new Promise((resolve, reject) => {
      cloudinary.uploader.upload_large(file, opts(emu, extra), (err, result) => (err || !result ? reject(err) : resolve(result)));
    });
  }

  it('assembles a video from 5 MB chunks (the real floor), then reads its container', async () => {
    const emu = await emulator();
    const bytes = mp4Bytes(11 * 1024 * 1024, 21);
    const file = await tempFile('long.mp4', bytes);
    const r = await uploadLarge(emu, file, { resource_type: 'video', chunk_size: 5 * 1024 * 1024, public_id: 'media/clips/long', overwrite: false });
    expect(r).toMatchObject({ public_id: 'media/clips/long', resource_type: 'video', format: 'mp4', bytes: bytes.length, etag: md5(bytes) });
    expect(r.secure_url).toMatch(/\/video\/upload\/v\d+\/media\/clips\/long\.mp4$/);
    expect(emu.stats()).toMatchObject({ uploadRequests: 3, created: 1 });
    expect(emu.assetsOf('video').get('media/clips/long')?.data.equals(bytes)).toBe(true);
  });

  it('defaults to raw, as the SDK does; a non-video sent as video is refused once assembled', async () => {
    const emu = await emulator({ minChunkBytes: 1000 });
    const bytes = pdfBytes(9);
    const file = await tempFile('manual.pdf', bytes);
    const r = await uploadLarge(emu, file, { chunk_size: 200, public_id: 'media/manuals/manual.pdf', tags: 'media' }).catch((e: unknown) => e);
    // 200-byte chunks are under the floor: the emulator refuses them as Cloudinary does.
    expect(r).toMatchObject({ http_code: 400, message: expect.stringMatching(/^Chunk size 200 is too small/) });

    const ok = await uploadLarge(emu, file, { chunk_size: 1024, public_id: 'media/manuals/manual.pdf', tags: 'media' });
    expect(ok).toMatchObject({ resource_type: 'raw', public_id: 'media/manuals/manual.pdf', bytes: bytes.length, etag: md5(bytes), original_filename: expect.stringMatching(/manual$/) });
    expect(ok).not.toHaveProperty('format');
    expect(emu.stats().uploadRequests).toBeGreaterThanOrEqual(1 + Math.ceil(bytes.length / 1024));

    const notVideo = await uploadLarge(emu, file, { resource_type: 'video', chunk_size: 1024, public_id: 'media/x' }).catch((e: unknown) => e);
    expect(notVideo).toMatchObject({ http_code: 400, message: 'Unsupported video format or file' });
  });
});

describe('each resource type is its own namespace in the Admin and Upload APIs', () => {
  it('lists, looks up, tags and destroys raw and video apart from images', async () => {
    const emu = await emulator();
    await uploadBuffer(emu, pngBytes(2, 2, 1), { public_id: 'media/a', tags: 'media' });
    await uploadBuffer(emu, pdfBytes(1), { resource_type: 'raw', public_id: 'media/a', tags: 'media' });
    await uploadBuffer(emu, mp4Bytes(2048, 1), { resource_type: 'video', public_id: 'media/a', tags: 'media' });
    await uploadBuffer(emu, pdfBytes(2), { resource_type: 'raw', public_id: 'other/b.pdf' });
    const ids = (r: { resources: { public_id: string; resource_type: string }[] }) => r.resources.map((x) => `${x.resource_type}:${x.public_id}`);

    for (const type of ['image', 'raw', 'video'] as const) {
      const byTag = await cloudinary.api.resources_by_tag('media', opts(emu, { resource_type: type }));
      expect(ids(byTag)).toEqual([`${type}:media/a`]);
      const byIds = await cloudinary.api.resources_by_ids(['media/a', 'other/b.pdf'], opts(emu, { resource_type: type }));
      expect(ids(byIds)).toEqual(type === 'raw' ? ['raw:media/a', 'raw:other/b.pdf'] : [`${type}:media/a`]);
    }
    const rawByTag = await cloudinary.api.resources_by_tag('media', opts(emu, { resource_type: 'raw' }));
    expect(rawByTag.resources[0]).not.toHaveProperty('format');
    const videoByTag = await cloudinary.api.resources_by_tag('media', opts(emu, { resource_type: 'video' }));
    expect(videoByTag.resources[0]).toMatchObject({ format: 'mp4', url: expect.stringMatching(/\/video\/upload\/v\d+\/media\/a\.mp4$/) });
    const listed = await cloudinary.api.resources(opts(emu, { resource_type: 'raw', type: 'upload', prefix: 'other/' }));
    expect(ids(listed)).toEqual(['raw:other/b.pdf']);
    expect(await cloudinary.api.resource('other/b.pdf', opts(emu, { resource_type: 'raw' }))).toMatchObject({ public_id: 'other/b.pdf', resource_type: 'raw' });

    await cloudinary.uploader.add_tag('extra', ['media/a'], opts(emu, { resource_type: 'raw' }) as never);
    expect(emu.assetsOf('raw').get('media/a')?.tags).toEqual(['media', 'extra']);
    expect(emu.assets.get('media/a')?.tags).toEqual(['media']);
    await cloudinary.uploader.remove_tag('media', ['media/a'], opts(emu, { resource_type: 'video' }) as never);
    expect(emu.assetsOf('video').get('media/a')?.tags).toEqual([]);
    expect(emu.assetsOf('raw').get('media/a')?.tags).toEqual(['media', 'extra']);

    expect(await cloudinary.uploader.destroy('media/a', { ...opts(emu), resource_type: 'raw', invalidate: true })).toEqual({ result: 'ok' });
    expect(await cloudinary.uploader.destroy('media/a', { ...opts(emu), resource_type: 'raw', invalidate: true })).toEqual({ result: 'not found' });
    expect(emu.assets.has('media/a')).toBe(true);
    expect(emu.assetsOf('video').has('media/a')).toBe(true);
    const deleted = await cloudinary.api.delete_resources(['media/a'], opts(emu, { resource_type: 'video' }));
    expect(deleted.deleted).toEqual({ 'media/a': 'deleted' });
    expect([emu.assets.size, emu.assetsOf('video').size, emu.assetsOf('raw').size]).toEqual([1, 0, 1]);
    expect(emu.stats().createdByPublicId).toEqual({ 'media/a': 1, 'raw:media/a': 1, 'video:media/a': 1, 'raw:other/b.pdf': 1 });

    const control = (await (await fetch(`${emu.url}/__emulator/assets?resource_type=raw`)).json()) as { assets: { public_id: string }[] };
    expect(control.assets.map((a) => a.public_id)).toEqual(['other/b.pdf']);
  });
});

describe('control API', () => {
  it('reads stats and faults, sets faults and resets over HTTP', async () => {
    const emu = await emulator();
    await uploadBuffer(emu, pngBytes(2, 2), { public_id: 'c1' });

    const stats = (await (await fetch(`${emu.url}/__emulator/stats`)).json()) as Record<string, unknown>;
    expect(stats).toMatchObject({ uploadRequests: 1, created: 1, createdByPublicId: { c1: 1 } });

    const assets = (await (await fetch(`${emu.url}/__emulator/assets`)).json()) as { assets: { public_id: string }[] };
    expect(assets.assets.map((a) => a.public_id)).toEqual(['c1']);

    const put = await fetch(`${emu.url}/__emulator/faults`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ errorRate: 1, latencyMs: 10 }),
    });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ errorRate: 1, latencyMs: 10, hangRate: 0 });
    expect(emu.faults().errorRate).toBe(1);
    expect((await failure(uploadBuffer(emu, pngBytes(2, 2)))).http_code).toBe(500);

    const bad = await fetch(`${emu.url}/__emulator/faults`, { method: 'PUT', body: JSON.stringify({ errorrate: 1 }) });
    expect(bad.status).toBe(400);
    const tooHigh = await fetch(`${emu.url}/__emulator/faults`, { method: 'PUT', body: JSON.stringify({ hangRate: 2 }) });
    expect(tooHigh.status).toBe(400);

    const faults = (await (await fetch(`${emu.url}/__emulator/faults`)).json()) as Record<string, unknown>;
    expect(faults).toEqual(emu.faults());

    const reset = await fetch(`${emu.url}/__emulator/reset`, { method: 'POST' });
    expect(reset.status).toBe(200);
    expect(emu.assets.size).toBe(0);
    expect(emu.stats()).toMatchObject({ uploadRequests: 0, created: 0, rejected: {} });
  });

  it('exposes a cloudinaryUrl and validates setFaults', async () => {
    const emu = await emulator({ cloudName: 'acme', apiKey: 'k1', apiSecret: 's1' });
    expect(emu.cloudinaryUrl).toBe(`cloudinary://k1:s1@acme?upload_prefix=${emu.url}`);
    expect(() => emu.setFaults({ errorRate: -1 })).toThrow();
    emu.setFaults({ latencyMs: 5 });
    expect(emu.faults()).toMatchObject({ latencyMs: 5, errorRate: 0, rateLimitRetryAfterMs: 1000 });
    const r = await uploadBuffer(emu, pngBytes(2, 2), { public_id: 'acme-1' });
    expect(r.url).toBe(`${emu.url}/acme/image/upload/v${r.version}/acme-1.png`);
  });
});

describe('media-migrate emulator', () => {
  it('prints a CLOUDINARY_URL that can be pasted as it is: its secret whole (the emulator\'s secret is not one)', async () => {
    const { main } = await import('../src/cli/main.ts');
    const { Writable } = await import('node:stream');
    const { loadConfig } = await import('../src/config/config.ts');
    const { createCloudinaryUploader } = await import('../src/cloudinary/uploader.ts');
    let stdout = '';
    const { freePort } = await import('./helpers/processes.ts');
    const port = await freePort();
    const stop = new AbortController();
    const printed = new Promise<string>((resolve) => {
      const out = new Writable({
        write(c, _e, cb) {
          stdout += c.toString();
          const line = stdout.split('\n').find((l) => l.startsWith('CLOUDINARY_URL='));
          if (line) resolve(line);
          cb();
        },
      });
      const io = { env: { EMULATOR_API_SECRET: 'not-so-secret-1' }, stdout: out, stderr: out, isTTY: false, signal: stop.signal };
      void main(['node', 'media-migrate', 'emulator', '--port', String(port)], io);
    });
    const line = await printed;
    expect(line).toMatch(/^CLOUDINARY_URL=cloudinary:\/\/123456789012345:not-so-secret-1@demo\?upload_prefix=http:\/\/127\.0\.0\.1:\d+$/);
    // Pasted into the tool's settings, Cloudinary (the emulator) accepts the credentials.
    const config = loadConfig({ CLOUDINARY_URL: line.slice('CLOUDINARY_URL='.length) }, ['cloudinary']);
    const uploader = createCloudinaryUploader(config.cloudinary, config.upload);
    await expect(uploader.checkCredentials()).resolves.toBeUndefined();
    uploader.close();
    stop.abort();
  });
});
