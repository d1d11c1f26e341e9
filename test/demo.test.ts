import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.ts';
import { captureLogs, TEST_REDIS_URL } from './helpers/harness.ts';

/**
 * The README's first command, as a newcomer runs it: no DATABASE_URL (the demo's tables live in a
 * SQLite file of its own), only Redis; and the staged cutover end to end.
 */
async function demo(args: string[]) {
  let stdout = '';
  let stderr = '';
  const logs = captureLogs([], 'warn');
  const io = {
    env: { REDIS_URL: TEST_REDIS_URL, PATH: process.env.PATH },
    stdout: new Writable({ write: (c, _e, cb) => ((stdout += c.toString()), cb()) }),
    stderr: new Writable({ write: (c, _e, cb) => ((stderr += c.toString()), cb()) }),
    isTTY: false,
    logger: logs.logger,
  };
  const code = await main(['node', 'media-migrate', 'demo', ...args], io);
  return { code, stdout, stderr, warnings: logs.records().map((l) => String(l.msg)) };
}

describe('demo', () => {
  it('runs a real migration on embedded defaults: a SQLite file of its own and the bundled emulator', async () => {
    const r = await demo(['--images', '20', '--latency', '5']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/20 image rows in the SQLite file .*demo\.sqlite3/);
    // The image columns, the PDF manuals (raw) and the rich-text descriptions, all in one batch.
    expect(r.stdout).toContain('✖ DONE | Migrated=26 | Missing=2 | Skipped=5 | Failed=3');
    // The missing files put back and retried, the junk rows cleared: the old disk can go.
    expect(r.stdout).toContain('✖ DONE | Migrated=28 | Missing=0 | Skipped=5 | Failed=3');
    expect(r.stdout.trim().split('\n').at(-1)).toMatch(/^✔ AUDIT \| Local references=0 \| Missing files=0 \| Unreferenced files=28 \(\d+\.\d kB\)$/);
    expect(r.stderr).toContain('✔ shop_product.description (text): 4 rows, 0 local references, 0 missing files');
  });

  it('starts clean when run again: nothing an earlier demo left in Redis is taken for this one', async () => {
    // Each demo's ledger is new and its batch is 1 again, beside the same Redis keys.
    await demo(['--images', '20', '--latency', '5']);
    const r = await demo(['--images', '20', '--latency', '5']);
    expect(r.stdout).toContain('✖ DONE | Migrated=26 | Missing=2 | Skipped=5 | Failed=3');
    // No record waited for the window to be handed over again.
    expect(r.warnings.filter((m) => /handing them over again/.test(m))).toEqual([]);
  });

  it('--cutover stages, switches and migrates while a visitor fetches every image: none breaks', async () => {
    const r = await demo(['--cutover', '--images', '20', '--latency', '5']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('✖ STAGED | Staged=21 | Not in place=0 | Missing=2 | Skipped=4 | Failed=3');
    // The delta: only the upload taken between the two stages was new.
    expect(r.stdout).toContain('✖ STAGED | Staged=22 | Not in place=0');
    expect(r.stdout).toContain('Switching the storage now serves every staged row of batch 1.');
    expect(r.stdout).toContain('1 row was added or changed since the stage');
    expect(r.stdout).toContain('✖ DONE | Migrated=22 | Missing=2 | Skipped=4 | Failed=3');
    expect(r.stdout).toContain('Rewritten in place (stage batch 2, no upload): 22');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('broken images during the cutover: 0');
    expect(r.stderr).toMatch(/The visitor fetched \d+ images of 22 rows in \d+ rounds/);
  });
});
