import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, storagePrefix } from '../src/config/config.ts';
import { parseCloudinaryUrl } from '../src/config/cloudinary.ts';
import { ConfigError, CredentialsError, PermanentError, RateLimitedError, RetryableError } from '../src/errors.ts';
import { classifyCloudinaryFailure } from '../src/cloudinary/uploader.ts';
import { detectImageFormat, readMediaFile, resolveInside } from '../src/media/media-file.ts';
import { jobIdFor } from '../src/pipeline/queue.ts';
import { contentSuffix, publicIdFor } from '../src/cloudinary/storage-convention.ts';
import { emptyCounts, stagedLine, summaryLine, thousands } from '../src/outcomes.ts';
import { inPlaceId, inPlaceProblem } from '../src/cloudinary/in-place-id.ts';
import { secretsInEnv } from '../src/secrets.ts';
import { jobsForUploadSlots, limitUploads } from '../src/pipeline/upload-slots.ts';
import { Batcher } from '../src/db/batcher.ts';
import { cacheCounts } from '../dashboard/counts-cache.ts';
import { createLogger, lazyChild } from '../src/logger.ts';
import type { Ledger } from '../src/ledger/ledger.ts';
import type { Uploader, UploadRequest } from '../src/cloudinary/uploader.ts';
import { gifBytes, jpegHeaderBytes, pngBytes } from './helpers/images.ts';

/**
 * Pure functions, one piece: the small units (names, ids, parsing, caches) that need no services,
 * kept in one fast file rather than one file per helper.
 */

describe('storage convention (django-cloudinary-storage MediaCloudinaryStorage)', () => {
  const md5 = 'a3f1c2d4e5f60718293a4b5c6d7e8f90';
  it('prefixes media/, keeps the folder, drops the extension and adds a 6-character suffix', () => {
    expect(publicIdFor('products/shoe.jpg', md5, 'media/')).toBe(`media/products/shoe_${contentSuffix(md5)}`);
    expect(contentSuffix(md5)).toMatch(/^[0-9a-z]{6}$/);
  });
  it('does not prefix twice (as _prepend_prefix) and handles files at the root', () => {
    expect(publicIdFor('media/products/shoe.jpg', md5, 'media/')).toBe(`media/products/shoe_${contentSuffix(md5)}`);
    expect(publicIdFor('logo.png', md5, 'media/')).toBe(`media/logo_${contentSuffix(md5)}`);
    expect(publicIdFor('logo.png', md5, '')).toBe(`logo_${contentSuffix(md5)}`);
  });
  it('follows Cloudinary naming rules: special characters become _, forbidden ones never reach a folder, unicode stays', () => {
    expect(publicIdFor('a b/c&d+e#f%g?.png', md5, 'media/')).toBe(`media/a b/c_d_e_f_g_${contentSuffix(md5)}`);
    expect(publicIdFor('x&y/#1 best!.png', md5, 'media/')).toBe(`media/x_y/1_best_${contentSuffix(md5)}`);
    expect(publicIdFor('produits/été.png', md5, 'media/')).toBe(`media/produits/été_${contentSuffix(md5)}`);
  });
  it('the same content gives the same id, other content another one', () => {
    expect(publicIdFor('x.png', md5, 'media/')).toBe(publicIdFor('x.png', md5, 'media/'));
    expect(publicIdFor('x.png', md5, 'media/')).not.toBe(publicIdFor('x.png', 'ffff' + md5.slice(4), 'media/'));
  });
  it('derives the prefix from MEDIA_URL', () => {
    expect(storagePrefix('/media/')).toBe('media/');
    expect(storagePrefix('/uploads')).toBe('uploads/');
    expect(storagePrefix('')).toBe('');
  });
});

describe('job ids', () => {
  it('are deterministic and never contain ":" or only digits', () => {
    const ref = { batchId: 3, table: 'shop_productimages', column: 'image', pk: '4711' };
    expect(jobIdFor(ref)).toBe('b3-shop_productimages-image-4711');
    expect(jobIdFor(ref)).toBe(jobIdFor({ ...ref }));
    const odd = jobIdFor({ ...ref, pk: 'a:b c' });
    expect(odd).not.toContain(':');
    expect(odd).not.toMatch(/^\d+$/);
  });
});

describe('image detection by magic bytes', () => {
  it('recognises real images and refuses text', () => {
    expect(detectImageFormat(pngBytes(2, 2))).toBe('png');
    expect(detectImageFormat(gifBytes(2, 2))).toBe('gif');
    expect(detectImageFormat(jpegHeaderBytes(2, 2))).toBe('jpg');
    expect(detectImageFormat(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"></svg>'))).toBe('svg');
    expect(detectImageFormat(Buffer.from('hello, I am text'))).toBeUndefined();
  });
});

describe('media files stay inside MEDIA_ROOT', () => {
  let root: string;
  let outside: string;
  beforeAll(async () => {
    root = realpathSync(await mkdtemp(join(tmpdir(), 'mm-root-')));
    outside = realpathSync(await mkdtemp(join(tmpdir(), 'mm-out-')));
    await mkdir(join(root, 'p'), { recursive: true });
    await writeFile(join(root, 'p', 'ok.png'), pngBytes(3, 3));
    await writeFile(join(outside, 'secret.png'), pngBytes(3, 3, 9));
    await symlink(join(outside, 'secret.png'), join(root, 'p', 'escape.png'));
    await symlink(join(root, 'p', 'ok.png'), join(root, 'p', 'inside-link.png'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });
  const reason = async (value: string) => {
    try {
      await resolveInside(root, value);
      return 'ok';
    } catch (err) {
      return (err as PermanentError).reason;
    }
  };
  it('refuses .., absolute paths, NUL and symlinks that leave the root', async () => {
    expect(await reason('../etc/passwd')).toBe('unsafe_path');
    expect(await reason('p/../../x.png')).toBe('unsafe_path');
    expect(await reason('/etc/passwd')).toBe('unsafe_path');
    expect(await reason('C:\\Windows\\win.ini')).toBe('unsafe_path');
    expect(await reason('p/a\0.png')).toBe('unsafe_path');
    expect(await reason('p/escape.png')).toBe('unsafe_path');
    expect(await reason('p/inside-link.png')).toBe('ok');
    expect(await reason('p\\ok.png')).toBe('ok');
    expect(await resolveInside(root, 'p/nothing.png')).toBeUndefined();
  });
  it('reads, hashes and sizes a good file', async () => {
    const f = await readMediaFile(root, 'p/ok.png', { maxFileBytes: 1e6, keepInMemoryUpToBytes: 1e6 });
    expect(f?.format).toBe('png');
    expect(f?.size).toBe(pngBytes(3, 3).length);
    expect(f?.md5).toMatch(/^[0-9a-f]{32}$/);
  });
  it('hashes large files from disk without keeping them', async () => {
    const small = await readMediaFile(root, 'p/ok.png', { maxFileBytes: 1e6, keepInMemoryUpToBytes: 1e6 });
    const streamed = await readMediaFile(root, 'p/ok.png', { maxFileBytes: 1e6, keepInMemoryUpToBytes: 1 });
    expect(streamed?.data).toBeUndefined();
    expect(streamed?.md5).toBe(small?.md5);
  });
});

describe('configuration', () => {
  it('parses CLOUDINARY_URL in the SDK format, with upload_prefix', () => {
    expect(parseCloudinaryUrl('cloudinary://123:s3cr%2Ft@mycloud?upload_prefix=http://127.0.0.1:9443')).toEqual({
      apiKey: '123',
      apiSecret: 's3cr/t',
      cloudName: 'mycloud',
      uploadPrefix: 'http://127.0.0.1:9443',
    });
  });
  it('accepts the seed app CLOUD_NAME / API_KEY / API_SECRET', () => {
    const c = loadConfig({ CLOUD_NAME: 'c', API_KEY: 'k', API_SECRET: 'secret-value' }, ['cloudinary']);
    expect(c.cloudinary).toMatchObject({ cloudName: 'c', apiKey: 'k', apiSecret: 'secret-value', uploadPrefix: 'https://api.cloudinary.com' });
    expect(c.secrets).toContain('secret-value');
  });
  it('collects every problem, one line each naming the setting, without echoing secrets', () => {
    let err: ConfigError | undefined;
    try {
      loadConfig(
        { DATABASE_URL: 'oracle://x', CLOUDINARY_URL: 'https://key:topsecret@cloud', MEDIA_ROOT: '/no/such/dir', JOB_ATTEMPTS: 'many', REDIS_URL: 'nope' },
        ['database', 'redis', 'mediaRoot', 'cloudinary'],
      );
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const names = err!.problems.map((p) => p.split(':')[0]);
    expect(names.sort()).toEqual(['CLOUDINARY_URL', 'DATABASE_URL', 'JOB_ATTEMPTS', 'MEDIA_ROOT', 'REDIS_URL']);
    for (const p of err!.problems) {
      expect(p).not.toContain('\n');
      expect(p).not.toContain('topsecret');
    }
  });
  it('finds secrets in the raw environment for scrubbing', () => {
    expect(secretsInEnv({ CLOUDINARY_URL: 'cloudinary://k:abcd1234@c', DATABASE_URL: 'postgres://u:pw%40rd@h/db' })).toEqual(
      expect.arrayContaining(['abcd1234', 'pw%40rd', 'pw@rd']),
    );
  });
});

describe('summary line', () => {
  it('has the old script shape', () => {
    expect(summaryLine({ total: 135, migrated: 128, missing: 2, skipped: 5, failed: 0, pending: 0, staged: 0, notInPlace: 0 })).toBe(
      '✔ DONE | Migrated=128 | Missing=2 | Skipped=5 | Failed=0',
    );
  });
});

describe('a batch that found none of its files', () => {
  it('is never ✔: nothing migrated and every file looked for missing', () => {
    const c = { total: 300, migrated: 0, missing: 300, skipped: 0, failed: 0, pending: 0, staged: 0, notInPlace: 0 };
    expect(summaryLine(c)).toBe('✖ DONE | Migrated=0 | Missing=300 | Skipped=0 | Failed=0');
    expect(summaryLine({ ...c, missing: 290, skipped: 10 })).toBe('✖ DONE | Migrated=0 | Missing=290 | Skipped=10 | Failed=0');
    expect(summaryLine(c, { dryRun: true })).toBe('✖ DONE | Migrated=0 | Missing=300 | Skipped=0 | Failed=0 (dry run: nothing uploaded or written)');
    expect(stagedLine(c)).toBe('✖ STAGED | Staged=0 | Not in place=0 | Missing=300 | Skipped=0 | Failed=0');
    // A re-run over a migrated library that meets one lost file found the rest in Cloudinary already.
    expect(summaryLine({ ...c, missing: 1, skipped: 299 }, { skippedAsMigrated: 299 })).toBe('✔ DONE | Migrated=0 | Missing=1 | Skipped=299 | Failed=0');
    // Nothing to look for at all is not a missing library.
    expect(summaryLine({ ...c, missing: 0, skipped: 300 })).toBe('✔ DONE | Migrated=0 | Missing=0 | Skipped=300 | Failed=0');
  });
});

describe('stage summary line', () => {
  it('has the same shape', () => {
    const c = { total: 350, migrated: 0, missing: 21, skipped: 7, failed: 0, pending: 0, staged: 315, notInPlace: 7 };
    expect(stagedLine(c)).toBe('✔ STAGED | Staged=315 | Not in place=7 | Missing=21 | Skipped=7 | Failed=0');
    expect(stagedLine({ ...c, failed: 5 })).toBe('✖ STAGED | Staged=315 | Not in place=7 | Missing=21 | Skipped=7 | Failed=5');
  });
});

describe('in-place ids (where the switched storage looks for a value)', () => {
  it('is PREFIX + the value without its last extension, the prefix never doubled', () => {
    expect(inPlaceId('products/shoe.jpg', 'media/')).toBe('media/products/shoe');
    expect(inPlaceId('media/products/shoe.jpg', 'media/')).toBe('media/products/shoe');
    expect(inPlaceId('products/archive.v2.png', 'media/')).toBe('media/products/archive.v2');
    expect(inPlaceId('products/noext', 'media/')).toBe('media/products/noext');
    expect(inPlaceId('v1.0/shoe.jpg', '')).toBe('v1.0/shoe');
    expect(inPlaceId('products/été rouge.png', 'media/')).toBe('media/products/été rouge');
  });

  it('names the rule a value breaks', () => {
    const reason = (v: string) => inPlaceProblem(v, 'media/')?.reason;
    for (const c of ['?', '&', '#', '%', '<', '>', '+']) {
      expect(reason(`products/a${c}b.png`)).toBe('illegal_characters');
      expect(inPlaceProblem(`products/a${c}b.png`, 'media/')?.detail).toContain(`"${c}"`);
    }
    expect(reason('products\\shoe.png')).toBe('illegal_characters');
    expect(reason('products//shoe.png')).toBe('illegal_characters');
    expect(reason('products/ shoe.png')).toBe('whitespace');
    expect(reason('products/shoe .png')).toBe('whitespace');
    expect(reason('products /shoe.png')).toBe('whitespace');
    expect(reason('v2/shoe.png')).toBe('reserved_folder');
    expect(reason('products/v12/shoe.png')).toBe('reserved_folder');
    expect(reason(`products/${'x'.repeat(250)}.png`)).toBe('too_long');
    expect(reason('products/shoe.v2')).toBe('unknown_format');
    expect(reason('products/.png')).toBe('unknown_format');
    for (const ok of ['products/shoe.jpg', 'products/red shoe.PNG', 'products/été.gif', 'products/v2shoe.webp', 'products/noext', 'v2.png']) {
      expect(inPlaceProblem(ok, 'media/'), ok).toBeUndefined();
    }
  });
});

describe('classifying what Cloudinary answers', () => {
  const classify = (e: unknown) => classifyCloudinaryFailure(e, 'upload of "x.png"', 1_000);
  it('maps each answer onto the error type that says what to do next', () => {
    expect(classify({ http_code: 401, message: 'Invalid Signature abc' })).toBeInstanceOf(CredentialsError);
    expect(classify({ error: { http_code: 401, message: 'api_secret mismatch' } })).toBeInstanceOf(CredentialsError);
    const limited = classify({ http_code: 420, message: `Rate Limit Exceeded. Try again on ${new Date(Date.now() + 5_000).toISOString().slice(0, 19).replace('T', ' ')} UTC` });
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterMs).toBeGreaterThan(3_000);
    expect((classify({ http_code: 429, message: 'Too many' }) as RateLimitedError).retryAfterMs).toBe(1_000);
    expect(classify({ http_code: 499, message: 'Request Timeout' })).toBeInstanceOf(RetryableError);
    expect(classify({ http_code: 500, message: 'General Error' })).toBeInstanceOf(RetryableError);
    expect(classify(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBeInstanceOf(RetryableError);
    // A request the SDK built with an empty multipart boundary deserves another attempt; a bad file does not.
    expect(classify({ http_code: 400, message: 'Invalid multipart request' })).toBeInstanceOf(RetryableError);
    const refused = classify({ http_code: 400, message: 'Invalid image file' });
    expect(refused).toBeInstanceOf(PermanentError);
    expect((refused as PermanentError).reason).toBe('cloudinary_rejected');
    expect(refused.message).toBe('upload of "x.png": Cloudinary refused it (400: Invalid image file)');
  });
});

describe('upload slots (--concurrency is uploads in flight)', () => {
  /** An uploader that answers when told to, counting what is in flight. */
  function slowUploader() {
    let inFlight = 0;
    let most = 0;
    const answers: { resolve: () => void; reject: (e: unknown) => void; req: UploadRequest }[] = [];
    const uploader = {
      upload: (req: UploadRequest) =>
        new Promise((resolve, reject) => {
          inFlight++;
          most = Math.max(most, inFlight);
          answers.push({
            req,
            resolve: () => (inFlight--, resolve({ publicId: req.publicId })),
            reject: (e) => (inFlight--, reject(e)),
          });
        }),
      close: () => {},
    } as unknown as Uploader;
    return { uploader, answers, most: () => most };
  }
  const req = (i: number) => ({ publicId: `p${i}` }) as UploadRequest;
  const tick = () => new Promise((r) => setTimeout(r, 0));

  it('the worker holds a quarter more jobs than upload slots', () => {
    expect(jobsForUploadSlots(32)).toBe(40);
    expect(jobsForUploadSlots(1)).toBe(2);
  });

  it('never has more than N uploads in flight; the others go in order as slots free up', async () => {
    const s = slowUploader();
    const limited = limitUploads(s.uploader, 3);
    const done = Array.from({ length: 8 }, (_, i) => limited.upload(req(i)));
    await tick();
    expect(s.answers.map((a) => a.req.publicId)).toEqual(['p0', 'p1', 'p2']);
    for (let i = 0; i < 8; i++) {
      s.answers[i]!.resolve();
      await tick();
    }
    await Promise.all(done);
    expect(s.answers.map((a) => a.req.publicId)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
    expect(s.most()).toBe(3);
    // Methods other than upload are the uploader's own.
    expect(() => limited.close()).not.toThrow();
  });

  it('sends no waiting upload once Cloudinary refused the credentials', async () => {
    const s = slowUploader();
    const limited = limitUploads(s.uploader, 2);
    const done = Array.from({ length: 5 }, (_, i) => limited.upload(req(i)).catch((e: unknown) => e));
    await tick();
    const refused = new CredentialsError('CLOUDINARY_URL: Cloudinary refused the API key or secret (401)');
    s.answers[0]!.reject(refused);
    s.answers[1]!.reject(refused);
    const results = await Promise.all(done);
    expect(results.every((r) => r === refused)).toBe(true);
    expect(s.answers).toHaveLength(2);
  });
});

describe("the dashboard's counts cache", () => {
  it('counts at most every 2 s, and at most every ten times what the last count took', async () => {
    let clock = 0;
    let counted = 0;
    let takes = 0;
    const ledger = {
      counts: {
        bySource: async (batchId: number) => {
          counted++;
          clock += takes;
          return batchId === 3 ? [] : [{ table: 't', column: 'c', ...emptyCounts(), total: 1, pending: 1 }];
        },
      },
    } as unknown as Ledger;
    const cached = cacheCounts(ledger, { now: () => clock });
    await cached.counts.bySource(1);
    await cached.counts.bySource(1);
    expect(counted).toBe(1);
    clock += 2_000;
    await cached.counts.bySource(1);
    expect(counted).toBe(2);
    // A batch whose count takes 500 ms is counted again only 5 s later.
    takes = 500;
    clock += 2_000;
    await cached.counts.bySource(1);
    expect(counted).toBe(3);
    clock += 4_000;
    await cached.counts.bySource(1);
    expect(counted).toBe(3);
    clock += 1_000;
    await cached.counts.bySource(1);
    expect(counted).toBe(4);
    // Each batch has its own; an action forgets them.
    await cached.counts.bySource(2);
    expect(counted).toBe(5);
    cached.forget();
    await cached.counts.bySource(1);
    expect(counted).toBe(6);
    // A batch with no record yet (being recorded) is counted at every ask: its first records show at
    // once, and "nothing pending" is never kept to read as finished once it is recorded.
    await cached.counts.bySource(3);
    await cached.counts.bySource(3);
    expect(counted).toBe(8);
  });
});

describe('the batcher behind group commit', () => {
  it('flushes a lone item at once, gathers what arrives during a flush into the next, and drains', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    let held = new Promise<void>((r) => (release = r));
    const batcher = new Batcher<number, number>(async (items) => {
      batches.push(items);
      await held;
      return items.map((i) => (i === 13 ? { error: new Error('thirteen') } : { value: i * 2 }));
    });
    const first = batcher.add(1);
    await new Promise((r) => setImmediate(r));
    // Nothing waited for company: the first flush has started with one item, and is held.
    expect(batches).toEqual([[1]]);
    const later = [2, 3, 13, 4].map((i) => batcher.add(i));
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([[1]]);
    const r = release;
    held = Promise.resolve();
    r();
    expect(await first).toBe(2);
    const settled = await Promise.allSettled(later);
    expect(batches).toEqual([[1], [2, 3, 13, 4]]);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : String(s.reason)))).toEqual([4, 6, 'Error: thirteen', 8]);
    const last = batcher.add(5);
    await batcher.drain();
    expect(await last).toBe(10);
  });
});

describe("a job's logger", () => {
  const memory = () => {
    const lines: Record<string, unknown>[] = [];
    return { lines, destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } };
  };

  it('is made only when something is logged at a level in force, and then carries the job\'s fields', () => {
    const { lines, destination } = memory();
    const parent = createLogger({ level: 'info', destination: destination as never, pretty: false });
    let made = 0;
    const child = parent.child;
    parent.child = function (this: typeof parent, ...args: Parameters<typeof parent.child>) {
      made++;
      return child.apply(this, args);
    } as typeof parent.child;
    const quiet = lazyChild(parent, { jobId: 'j1', pk: '7' });
    quiet.debug({ outcome: 'migrated' }, 'record migrated');
    quiet.trace('nothing');
    expect(made).toBe(0);
    expect(lines).toEqual([]);

    const loud = lazyChild(parent, { jobId: 'j2', pk: '8', apiSecret: 'hunter2' });
    loud.warn({ attempt: 1 }, 'attempt failed');
    loud.info('again');
    loud.child({ step: 'upload' }).error('nested');
    expect(made).toBe(2); // the job's child, then the nested one
    expect(lines.map((l) => [l.msg, l.jobId, l.pk, l.attempt, l.step])).toEqual([
      ['attempt failed', 'j2', '8', 1, undefined],
      ['again', 'j2', '8', undefined, undefined],
      ['nested', 'j2', '8', undefined, 'upload'],
    ]);
    // The parent's redaction still applies to the job's fields.
    expect(lines[0]!.apiSecret).toBe('[REDACTED]');
    expect(loud.isLevelEnabled('debug')).toBe(false);
  });
});

describe('thousands (numbers in progress and state lines, without ICU)', () => {
  it('groups digits as en-US does', () => {
    for (const n of [0, 7, 999, 1000, 12345, 120000, 1234567, 1000000000, -45678, 1234.5]) {
      expect(thousands(n)).toBe(n.toLocaleString('en-US', { maximumFractionDigits: 20 }));
    }
  });
});
