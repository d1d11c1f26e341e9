import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';

/**
 * A refusal or a pause for one batch must never stall another batch's progress, and a run that
 * cannot make progress says why within seconds and exits.
 */

let h: Harness;
const dirs: string[] = [];
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function folder(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'mm-other-media-'));
  dirs.push(d);
  return d;
}

async function seedProducts(n: number) {
  for (let i = 1; i <= n; i++) await h.file(`p/${i}.png`, pngBytes(2 + (i % 5), 3, i));
  await h.db('shop_productimages').insert(Array.from({ length: n }, (_, i) => ({ image: `p/${i + 1}.png` })));
}

async function seedBanners(n: number, root: string) {
  const { mkdir, writeFile } = await import('node:fs/promises');
  await mkdir(join(root, 'b'), { recursive: true });
  for (let i = 1; i <= n; i++) await writeFile(join(root, 'b', `${i}.png`), pngBytes(3 + (i % 4), 2, 500 + i));
  await h.db('shop_bannerimage').insert(Array.from({ length: n }, (_, i) => ({ image: `b/${i + 1}.png` })));
}

describe('one batch refused, another run', () => {
  it('an older batch this machine refuses (its media is elsewhere) does not stall a new batch it can do, even with the window full of the old one', async () => {
    await seedProducts(30);
    // Batch 1, enqueued where its files are, fills the whole window (10) and is left pending.
    expect(JSON.parse((await h.run(['enqueue', '--only', 'shop_productimages', '--json'], { env: { QUEUE_WINDOW: '10' } })).stdout)).toMatchObject({ batch: 1, enqueued: 10 });
    // This machine has only the banners' folder: it cannot see batch 1's files.
    const banners = await folder();
    await seedBanners(8, banners);
    const started = Date.now();
    const r = await h.run(['migrate', '--only', 'shop_bannerimage', '--concurrency', '4'], {
      env: { MEDIA_ROOT: banners, QUEUE_WINDOW: '10' },
      signal: AbortSignal.timeout(30_000),
    });
    expect(r.stdout.trim()).toBe('✔ DONE | Migrated=8 | Missing=0 | Skipped=0 | Failed=0');
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(25_000);
    const rows = await h.rows('shop_bannerimage');
    for (const row of rows) expect(h.emulator.assets.has(String(row.image))).toBe(true);
    // Batch 1 was refused, not marked missing: all of it still pending for a machine that sees it.
    expect(await h.ledger.counts.total(1)).toMatchObject({ pending: 30, missing: 0, migrated: 0 });
    expect((await h.ledger.counts.total(2)).migrated).toBe(8);
  });

  it('a run with the wrong MEDIA_ROOT beside an older pending batch exits within seconds with one line naming its batch and the cause', async () => {
    await seedProducts(12);
    expect((await h.run(['enqueue', '--only', 'shop_productimages'])).code).toBe(0);
    // The banners' files are in the real media folder; this run points MEDIA_ROOT at an empty one.
    await seedBanners(6, h.mediaRoot);
    const wrong = await folder();
    // Without --allow-missing the batch is refused before it is recorded (none of its files is there).
    const refused = await h.run(['migrate', '--only', 'shop_bannerimage', '--concurrency', '4'], { env: { MEDIA_ROOT: wrong }, signal: AbortSignal.timeout(30_000) });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`MEDIA_ROOT=${wrong}: none of the first 6 files the batch names is there`);
    expect(await h.ledger.batches.get(2)).toBeUndefined();
    // With it (the user says the files are lost), the machine still cannot see what batch 1 found:
    // it refuses the new batch's jobs at once, naming the batch and the cause, instead of hanging.
    const started = Date.now();
    const r = await h.run(['migrate', '--only', 'shop_bannerimage', '--concurrency', '4', '--allow-missing'], {
      env: { MEDIA_ROOT: wrong },
      signal: AbortSignal.timeout(30_000),
    });
    const took = Date.now() - started;
    expect(r.code).toBe(2);
    expect(took).toBeLessThan(10_000);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      `media-migrate: MEDIA_ROOT=${wrong}: this machine cannot see p/1.png, a file batch 1 found in the media folder; it refuses batch 2's jobs (mount the media there, or set MEDIA_ROOT to where it is)`,
    ]);
    // Nothing was marked missing; with the right MEDIA_ROOT the same command does it all.
    expect(await h.ledger.counts.total(2)).toMatchObject({ pending: 6, missing: 0 });
    const again = await h.run(['migrate', '--only', 'shop_bannerimage', '--concurrency', '4'], { signal: AbortSignal.timeout(30_000) });
    expect(again.stdout.trim()).toBe('✔ DONE | Migrated=6 | Missing=0 | Skipped=0 | Failed=0');
  });
});
