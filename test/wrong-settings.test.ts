import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';

/**
 * Settings that are wrong in ways a first check does not see: a MEDIA_ROOT that exists but is the
 * wrong folder, a database that refuses us (in its own words, never with the password), a SQLite
 * path that names no file. Each is refused in one line before anything is recorded.
 */

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await h.close();
});

async function seed(n: number) {
  for (let i = 1; i <= n; i++) await h.file(`p/${i}.png`, pngBytes(2 + (i % 3), 2, i));
  await h.db('shop_productimages').insert(Array.from({ length: n }, (_, i) => ({ image: `p/${i + 1}.png` })));
}

describe('a database that refuses the connection', () => {
  const PASSWORD = 'pw-5150-secret';
  // Per database: the URL, and the server's own words the one line must carry (never a bare code).
  const cases: Record<string, [string, string, string][]> = {
    pg: [
      ['a database that does not exist', `postgres://postgres:${PASSWORD}@127.0.0.1:5432/shpo`, 'database "shpo" does not exist (3D000)'],
      ['an unknown role', `postgres://nobody:${PASSWORD}@127.0.0.1:5432/test`, 'role "nobody" does not exist (28000)'],
    ],
    mysql: [
      ['a database that does not exist', 'mysql://root@127.0.0.1:3306/shpo', "Unknown database 'shpo' (ER_BAD_DB_ERROR)"],
      ['a wrong password', `mysql://root:${PASSWORD}@127.0.0.1:3306/test`, "Access denied for user 'root'@'127.0.0.1' (using password: YES) (ER_ACCESS_DENIED_ERROR)"],
    ],
    sqlite: [],
  };
  for (const [name, url, words] of cases[process.env.TEST_DB ?? 'pg'] ?? []) {
    it(`names ${name} in the server's own words, without the password`, async () => {
      const r = await h.run(['status'], { env: { DATABASE_URL: url } });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`media-migrate: DATABASE_URL: cannot connect to the database: ${words}\n`);
      expect(r.stderr + r.stdout + h.logs.lines.join('\n')).not.toContain(PASSWORD);
    });
  }

  it('a SQLite file that does not exist is refused by name, not created empty', async () => {
    const missing = `${h.mediaRoot}/../shpo.sqlite3`;
    for (const url of [`sqlite://${missing}`, `file:${missing}`]) {
      const r = await h.run(['status'], { env: { DATABASE_URL: url } });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`media-migrate: DATABASE_URL: no SQLite database at ${resolve(missing)} (the file does not exist; check the path)\n`);
      expect(existsSync(missing)).toBe(false);
    }
  });
});

describe('a MEDIA_ROOT that exists but is the wrong folder', () => {
  /** 30 product images, the first rows empty or URLs (not files: they say nothing about MEDIA_ROOT). */
  async function library() {
    await h.db('shop_productimages').insert([{ image: '' }, { image: 'https://cdn.example/x.png' }]);
    await seed(30);
  }

  it('migrate, stage and enqueue refuse before recording the batch, naming the folder and two files; --allow-missing runs it, never with ✔', async () => {
    await library();
    const wrong = await mkdtemp(join(tmpdir(), 'mm-wrong-media-'));
    const env = { MEDIA_ROOT: wrong };
    const line = `media-migrate: MEDIA_ROOT=${wrong}: none of the first 20 files the batch names is there (looked for p/1.png, p/2.png, …); is it the folder Django saved uploads in? Nothing was recorded. If the library really lost these files, run again with --allow-missing\n`;
    for (const argv of [['migrate'], ['stage'], ['enqueue'], ['enqueue', '--stage'], ['migrate', '--dry-run']]) {
      const r = await h.run(argv, { env });
      expect(r.stderr, argv.join(' ')).toBe(line);
      expect(r.code, argv.join(' ')).toBe(2);
    }
    expect(await h.ledger.batches.list()).toHaveLength(0);
    expect(h.emulator.stats().uploadRequests).toBe(0);

    // The user says the files are really gone: the batch runs, and its line is no success.
    const m = await h.run(['migrate', '--allow-missing'], { env });
    expect(m.code).toBe(0);
    expect(m.stdout.trim()).toBe('✖ DONE | Migrated=0 | Missing=30 | Skipped=2 | Failed=0');
    expect(m.stderr).toContain(`Batch 1 found none of its files under MEDIA_ROOT=${wrong}: is it the folder Django saved uploads in? Once it is right: media-migrate retry-failed --batch 1 --outcome missing && media-migrate migrate --batch 1`);
    const s = await h.run(['stage', '--allow-missing'], { env });
    expect(s.stdout.split('\n')[0]).toBe('✖ STAGED | Staged=0 | Not in place=0 | Missing=30 | Skipped=2 | Failed=0');
    const e = await h.run(['enqueue', '--allow-missing', '--dry-run', '--json'], { env });
    expect(e.code).toBe(0);
    expect(JSON.parse(e.stdout)).toMatchObject({ batch: 3, total: 32 });

    // The right MEDIA_ROOT: the missing ones re-run as the hint says, and the figures are a success again.
    await h.run(['retry-failed', '--batch', '1', '--outcome', 'missing']);
    const fixed = await h.run(['migrate', '--batch', '1']);
    expect(fixed.stdout.trim()).toBe('✔ DONE | Migrated=30 | Missing=0 | Skipped=2 | Failed=0');
    await rm(wrong, { recursive: true, force: true });
  });

  it('one file found among the first 20 is enough; the 21st is not looked at', async () => {
    await library();
    // Only the 21st file is there: the first 20 say the folder is wrong.
    for (let i = 1; i <= 30; i++) if (i !== 21) await rm(`${h.mediaRoot}/p/${i}.png`);
    const refused = await h.run(['migrate']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/none of the first 20 files the batch names is there \(looked for p\/1\.png, p\/2\.png, …\)/);
    // The 20th too: a library with lost files, not a wrong folder.
    await h.file('p/20.png', pngBytes(2, 2, 20));
    const r = await h.run(['migrate']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('✔ DONE | Migrated=2 | Missing=28 | Skipped=2 | Failed=0');
  });

  it('--allow-missing is in the --help of migrate, stage and enqueue', async () => {
    for (const command of ['migrate', 'stage', 'enqueue']) {
      const r = await h.run([command, '--help']);
      expect(r.stdout.replace(/\s+/g, ' '), command).toContain('--allow-missing record the batch even when none of its first 20 files is under MEDIA_ROOT (a library that really lost its files)');
    }
  });
});
