import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DashboardDeps } from '../dashboard/deps.ts';
import { startDashboard, type RunningDashboard } from '../dashboard/server.ts';
import { dashboardDeps } from './helpers/dashboard.ts';
import { createHarness, TEST_REDIS_URL, type Captured, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';

/**
 * A real browser (Debian's Chromium, driven by playwright-core) on the summary page while a real
 * batch runs: the counts rise without a reload, and "Retry failed" re-queues the failures.
 *
 * The screenshot goes to test-results/dashboard.png; with UPDATE_SCREENSHOT=1 it also replaces
 * docs/dashboard.png, the one the README shows (so an ordinary test run leaves the tree clean).
 */

const CHROMIUM = '/usr/bin/chromium';
const USER = 'admin';
const PASSWORD = 'browser-test-pass';
const IMAGES = 60;
const ROOT = resolve(import.meta.dirname, '..');

let h: Harness;
let world: ReturnType<typeof dashboardDeps>;
let dashboard: RunningDashboard;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: install Debian's package (apt-get install -y chromium), as .ci/run does`);
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  // Slow enough uploads that the batch takes several seconds: the page must see it move.
  h = await createHarness({ emulator: { faults: { latencyMs: 200 } } });
  // Trouble first, so the failures are on the page early: text files named .jpg and missing files.
  const rows: { image: string }[] = [];
  for (let i = 1; i <= 3; i++) {
    await h.file(`products/notes-${i}.jpg`, `a text file, not an image (${i})\n`);
    rows.push({ image: `products/notes-${i}.jpg` });
  }
  rows.push({ image: 'products/lost-1.png' }, { image: 'products/lost-2.png' }, { image: '' });
  for (let i = 1; i <= IMAGES; i++) {
    await h.file(`products/2024/product-${i}.png`, pngBytes(8 + (i % 5), 6, i));
    rows.push({ image: `products/2024/product-${i}.png` });
  }
  await h.db('shop_productimages').insert(rows);

  world = dashboardDeps(h, { user: USER, password: PASSWORD });
  const deps: DashboardDeps = world.deps;
  dashboard = await startDashboard(deps, { host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await browser?.close();
  await dashboard?.close();
  await world?.close();
  await h?.close();
});

/** The little of the browser's globals the page functions below use. */
interface BrowserGlobals {
  document: { querySelector(selector: string): { textContent: string | null } | null };
  MutationObserver: new (cb: () => void) => { observe(target: unknown, opts: Record<string, boolean>): void };
  seen: string[];
}

const num = async (page: Page, id: string) => Number(((await page.textContent(`#${id}`)) ?? '').replace(/[^0-9]/g, '') || NaN);

async function screenshot(page: Page): Promise<void> {
  const targets = [resolve(ROOT, 'test-results/dashboard.png')];
  if (process.env.UPDATE_SCREENSHOT === '1') targets.push(resolve(ROOT, 'docs/dashboard.png'));
  for (const path of targets) {
    await mkdir(dirname(path), { recursive: true });
    await page.screenshot({ path, fullPage: true });
  }
}

describe('the summary page in a real browser', () => {
  it('shows the counts rising while a batch runs, and re-queues the failures on "Retry failed"', async () => {
    const context = await browser.newContext({ httpCredentials: { username: USER, password: PASSWORD }, viewport: { width: 1280, height: 900 }, reducedMotion: 'reduce' });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    let navigations = 0;
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations++;
    });
    await page.goto(`${dashboard.url}/`);
    await expect.poll(() => page.textContent('#banner')).toMatch(/No batch yet/);

    // Every value #n-migrated takes, as the page rewrites it. (Browser code; this file has no DOM types.)
    await page.evaluate(() => {
      const w = globalThis as unknown as BrowserGlobals;
      const target = w.document.querySelector('#n-migrated')!;
      w.seen = [];
      new w.MutationObserver(() => w.seen.push(target.textContent ?? '')).observe(target, { childList: true, characterData: true, subtree: true });
    });

    const migrating: Promise<Captured> = h.run(['migrate', '--concurrency', '2']);
    await page.waitForFunction(
      () => {
        const d = (globalThis as unknown as BrowserGlobals).document;
        const figure = (id: string) => Number(d.querySelector(`#${id}`)?.textContent?.replace(/\D/g, '') || 0);
        return figure('n-migrated') >= 15 && figure('n-pending') > 0 && d.querySelector('#eta')?.textContent !== '–';
      },
      undefined,
      { timeout: 20_000 },
    );
    expect(await page.textContent('#state')).toMatch(/^Batch 1 · running/);
    expect(await page.textContent('#eta')).toMatch(/^\d+ (s|min)$/);
    expect(await num(page, 'rate')).toBeGreaterThan(0);
    expect(await num(page, 'n-failed')).toBe(3);
    expect(await page.isVisible('#list-failed table')).toBe(true);
    await screenshot(page);

    const result = await migrating;
    expect(result.stdout.trim()).toBe(`✖ DONE | Migrated=${IMAGES} | Missing=2 | Skipped=1 | Failed=3`);
    await expect.poll(() => page.textContent('#n-migrated'), { timeout: 10_000 }).toBe(String(IMAGES));
    await expect.poll(() => page.textContent('#state')).toMatch(/finished/);

    const seen = (await page.evaluate(() => (globalThis as unknown as BrowserGlobals).seen)).map((v) => Number(v.replace(/\D/g, '')));
    const distinct = [...new Set(seen)];
    // It went up step by step while the batch ran: at least two values between the first and the last.
    expect(distinct.filter((v) => v > 0 && v < IMAGES).length).toBeGreaterThanOrEqual(2);
    expect(distinct).toEqual([...distinct].sort((a, b) => a - b));
    expect(navigations).toBe(1);

    // Retry failed: asks first, then says what it did; the failures become pending again.
    expect(await num(page, 'n-failed')).toBe(3);
    expect(await num(page, 'n-pending')).toBe(0);
    let question = '';
    page.once('dialog', (d) => {
      question = d.message();
      void d.accept();
    });
    await page.click('#retry-failed');
    await expect.poll(() => page.textContent('#action-result')).toMatch(/^Re-queued 3 failed records of batch 1\./);
    expect(question).toMatch(/^Re-queue the 3 failed records of batch 1\?/);
    await expect.poll(() => page.textContent('#n-failed')).toBe('0');
    await expect.poll(() => page.textContent('#n-pending')).toBe('3');
    // Nothing runs them once migrate has returned, and the page says so.
    expect(await page.textContent('#banner')).toMatch(/3 records are pending and no worker is connected/);
    expect(await world.deps.queue.getJobCounts('waiting')).toEqual({ waiting: 3 });
    expect(await page.isDisabled('#retry-failed')).toBe(true);

    await page.screenshot({ path: resolve(ROOT, 'test-results/dashboard-after-retry.png'), fullPage: true });
    expect(navigations).toBe(1);
    expect(errors).toEqual([]);

    // The summary links to bull-board, whose own calls (no token of ours) pass the same-origin check.
    await page.click('#queues-link');
    await page.waitForURL(`${dashboard.url}/queues/`);
    const put = (path: string) =>
      page.evaluate(async (p) => (await fetch(p, { method: 'PUT', credentials: 'same-origin' })).status, path);
    expect(await put('api/queues/media-migrate/pause')).toBeLessThan(300);
    expect(await world.deps.queue.isPaused()).toBe(true);
    expect(await put('api/queues/media-migrate/resume')).toBeLessThan(300);
    expect(await world.deps.queue.isPaused()).toBe(false);
    await context.close();
  });

  it('refuses the form another site makes the browser post, though the browser sends the credentials', async () => {
    const context = await browser.newContext({ httpCredentials: { username: USER, password: PASSWORD } });
    const page = await context.newPage();
    // The operator has the dashboard open...
    await page.goto(`${dashboard.url}/`);
    await expect.poll(() => page.textContent('#state')).toMatch(/^Batch 1/);
    // ...and visits another site, whose page posts a form to the dashboard (the classic CSRF).
    const before = await h.ledger.counts.total(1);
    for (const target of ['/api/batches/1/dry-run', '/api/batches/1/retry-failed', '/queues/api/queues/media-migrate/add']) {
      await page.route('http://attacker.test/**', (route) =>
        route.fulfill({ contentType: 'text/html', body: `<form method="post" action="${dashboard.url}${target}"><input name="x" value="1"></form>` }),
      );
      await page.goto('http://attacker.test/');
      const [answer] = await Promise.all([page.waitForResponse(`${dashboard.url}${target}`), page.locator('form').evaluate((f: { submit(): void }) => f.submit())]);
      // 403 from the CSRF check, not 401: the browser did send the operator's credentials.
      expect(answer.status(), target).toBe(403);
      expect(await answer.json()).toEqual({ error: 'cross-site request refused (Sec-Fetch-Site: cross-site)' });
      await page.unroute('http://attacker.test/**');
    }
    expect(await h.ledger.batches.list()).toHaveLength(1);
    expect(await h.ledger.counts.total(1)).toEqual(before);
    await context.close();
  });

  it('shows a stage batch: staged and not in place, and the list of what is not, with its reasons', async () => {
    // New uploads since the migration (what a cutover's first stage meets on a live app), one that Cloudinary's naming rules keep out.
    await h.file('products/salt & pepper.png', pngBytes(9, 9, 99));
    for (let i = 1; i <= 5; i++) await h.file(`products/2025/new-${i}.png`, pngBytes(7, 7, 100 + i));
    await h.db('shop_productimages').insert([{ image: 'products/salt & pepper.png' }, ...[1, 2, 3, 4, 5].map((i) => ({ image: `products/2025/new-${i}.png` }))]);
    const staged = await h.run(['stage', '--concurrency', '8']);
    expect(staged.stdout).toContain('Staged=5 | Not in place=1');
    const context = await browser.newContext({ httpCredentials: { username: USER, password: PASSWORD }, viewport: { width: 1280, height: 900 }, reducedMotion: 'reduce' });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${dashboard.url}/`);
    await expect.poll(() => page.textContent('#state')).toMatch(/^Batch 2 · stage · finished/);
    expect(await page.textContent('#l-migrated')).toBe('staged');
    expect(await num(page, 'n-migrated')).toBe(5);
    expect(await page.isVisible('#tile-not-in-place')).toBe(true);
    expect(await num(page, 'n-not-in-place')).toBe(1);
    expect(await page.textContent('#cutover-note')).toMatch(/Switching the storage now serves every staged row/);
    await expect.poll(() => page.textContent('#list-not_in_place tbody')).toMatch(/products\/salt & pepper\.png.*illegal_characters/);
    expect(await page.getAttribute('#list-not_in_place .csv', 'href')).toBe('api/batches/2/records.csv?outcome=not_in_place');
    // The batches table is filled after the lists: wait for it too.
    await expect.poll(() => page.textContent('#history tbody')).toMatch(/#2 \(stage\)/);
    await page.screenshot({ path: resolve(ROOT, 'test-results/dashboard-stage.png'), fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('opens on the batch its address names, keeps the address in step with the batch picked, and says what a rollback restored', async () => {
    const rolledBack = await h.run(['rollback', '--batch', '1', '--json']);
    expect(JSON.parse(rolledBack.stdout)).toMatchObject({ restored: IMAGES, left: 0 });
    const context = await browser.newContext({ httpCredentials: { username: USER, password: PASSWORD } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // A shared link to batch 1, though batch 2 is the newest.
    await page.goto(`${dashboard.url}/?batch=1`);
    await expect.poll(() => page.textContent('#state')).toBe(`Batch 1 · rolled back: ${IMAGES} restored, 0 left`);
    // The picker says so once it has listed the batches.
    await expect.poll(() => page.inputValue('#batch-select')).toBe('1');
    await expect.poll(() => page.textContent('#history tbody')).toContain(`rolled back: ${IMAGES} restored, 0 left`);

    // Picking another batch moves the address with it; Back returns to the one shown before.
    await page.selectOption('#batch-select', '2');
    await expect.poll(() => page.textContent('#state')).toMatch(/^Batch 2 · stage · /);
    expect(new URL(page.url()).search).toBe('?batch=2');
    await page.selectOption('#batch-select', 'latest');
    await expect.poll(() => new URL(page.url()).search).toBe('');
    await page.goBack();
    await expect.poll(() => page.textContent('#state')).toMatch(/^Batch 2 · stage · /);
    await expect.poll(() => page.inputValue('#batch-select')).toBe('2');
    await page.goBack();
    await expect.poll(() => page.textContent('#state')).toMatch(/^Batch 1 · rolled back/);
    expect(new URL(page.url()).search).toBe('?batch=1');

    // A reload keeps what the address says.
    await page.reload();
    await expect.poll(() => page.textContent('#state')).toMatch(/^Batch 1 · rolled back/);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('works when opened from a link that carries the credentials (http://user:password@host/)', async () => {
    // No httpCredentials: the address itself carries them, as a link pasted into the browser would.
    const context = await browser.newContext();
    const page = await context.newPage();
    const withCredentials = new URL(dashboard.url);
    withCredentials.username = USER;
    withCredentials.password = PASSWORD;
    await page.goto(`${withCredentials.href.replace(/\/$/, '')}/?batch=1`);
    await expect.poll(() => page.textContent('#state')).toMatch(/^Batch 1 · /);
    expect(await page.isHidden('#banner')).toBe(true);
    await context.close();
  });
});
