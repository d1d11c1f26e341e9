import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type RunningDashboard } from '../dashboard/server.ts';
import { dashboardDeps } from './helpers/dashboard.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { largePngBytes, pngBytes } from './helpers/images.ts';

/**
 * The operator's controls in a real browser (Debian's Chromium): find a record, retry the failures of
 * one reason, and start a batch from the page, planned first, for a worker to do.
 */

const CHROMIUM = '/usr/bin/chromium';
const AUTH = { user: 'admin', password: 'operator-browser-pass' };
const ROOT = resolve(import.meta.dirname, '..');

let h: Harness;
let world: ReturnType<typeof dashboardDeps>;
let dashboard: RunningDashboard;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}: install Debian's package (apt-get install -y chromium), as .ci/run does`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  h = await createHarness();
  for (let i = 1; i <= 8; i++) await h.file(`products/shoe-${i}.png`, pngBytes(4 + i, 4, i));
  await h.file('products/huge.png', largePngBytes(40_000, 5));
  await h.db('shop_productimages').insert([...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => ({ image: `products/shoe-${i}.png` })), { image: 'products/huge.png' }]);
  // Uploads refused for the first two records (attempts run out), then a file over the size limit.
  h.emulator.setFaults({ errorRate: 1 });
  await h.run(['migrate', '--limit', '2'], { env: { JOB_ATTEMPTS: '1' } });
  h.emulator.setFaults({ errorRate: 0 });
  world = dashboardDeps(h, AUTH);
  dashboard = await startDashboard(world.deps, { host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await browser?.close();
  await dashboard?.close();
  await world?.close();
  await h?.close();
});

describe('the operator in a real browser', () => {
  it('finds a record, retries one reason, and starts a canary batch from the page', async () => {
    const context = await browser.newContext({ httpCredentials: { username: AUTH.user, password: AUTH.password }, viewport: { width: 1280, height: 900 }, reducedMotion: 'reduce' });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
    await page.goto(`${dashboard.url}/`);
    await expect.poll(() => page.textContent('#state')).toMatch(/^Batch 1 · finished/);

    // Find: by table:pk, with the record's history.
    await page.fill('#q', 'shop_productimages:2');
    await page.click('#search button[type=submit]');
    await expect.poll(() => page.textContent('#search-results .search-summary')).toBe('1 record matching “shop_productimages:2”.');
    expect(await page.textContent('#search-results .found')).toMatch(/shop_productimages\.image pk=2.*#1 migrate.*failed retries_exhausted/s);

    // The failures grouped by reason; retry just that reason.
    await expect.poll(() => page.textContent('#failed-reasons')).toMatch(/retries_exhausted\s*2/);
    await page.click('#failed-reasons button[data-reason="retries_exhausted"]');
    await expect.poll(() => page.textContent('#action-result')).toMatch(/^Re-queued 2 failed \(retries_exhausted\) records of batch 1\./);
    expect(dialogs.at(-1)).toMatch(/^Re-queue the 2 records of batch 1 that failed with retries_exhausted\?/);
    await expect.poll(() => page.textContent('#n-pending')).toBe('2');

    // Start a batch: the plan says no worker can do it yet.
    await page.click('#start-open');
    await page.check('input[name=kind][value=migrate]');
    await page.fill('input[name=limit]', '5');
    await page.click('#plan-btn');
    await expect.poll(() => page.textContent('.plan-text')).toMatch(/A migration over shop_productimages\.image, shop_bannerimage\.image, shop_subcategory\.image: the first 5 records.*about 5 records\.\nNo dry run yet: consider one first\.\nCannot start: no worker is connected/s);
    expect(await page.isDisabled('#start-btn')).toBe(true);
    // A worker connects; planned again, it can start.
    const stop = new AbortController();
    const worker = h.run(['worker', '--concurrency', '2'], { env: { MAX_FILE_BYTES: '20000' }, signal: stop.signal });
    await expect.poll(async () => {
      await page.click('#plan-btn');
      // Each click starts a new plan: read the answer, not the "Planning…" it shows meanwhile.
      await expect.poll(() => page.textContent('.plan-text')).not.toBe('Planning…');
      return page.textContent('.plan-text');
    }, { timeout: 15_000 }).toMatch(/1 worker connected to do it\./);
    await page.click('#start-btn');
    await expect.poll(() => page.textContent('#action-result')).toMatch(/^Started migration batch 2 \(the first 5 records/);
    expect(dialogs.at(-1)).toMatch(/Start it\?$/);
    await expect.poll(() => page.textContent('#state'), { timeout: 30_000 }).toMatch(/^Batch 2 · finished/);
    expect(await page.textContent('#scope-note')).toMatch(/^Scope: the first 5 records/);
    await mkdir(resolve(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: resolve(ROOT, 'test-results/dashboard-operator.png'), fullPage: true });
    stop.abort();
    expect((await worker).code).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  });
});
