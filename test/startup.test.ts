import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.ts';
import { YOUNG_GENERATION_BYTES } from '../src/heap.ts';
import { captureLogs } from './helpers/harness.ts';

/**
 * `--help` and `status` start fast because the CLI loads a command's modules only when that command
 * runs. Timing it here would be flaky on a shared machine, so this checks the cause: what each entry
 * of the bundle the bin runs (dist/bundle/, npm test builds it) loads before any dynamic import(),
 * from the bundler's own account of it (dist/bundle.meta.json) by following static imports.
 */

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

interface BundleMeta {
  outputs: Record<string, { entryPoint?: string; inputs: Record<string, unknown>; imports: { path: string; kind: string; external?: boolean }[] }>;
}
const meta = (): BundleMeta => JSON.parse(readFileSync(join(DIST, 'bundle.meta.json'), 'utf8')) as BundleMeta;
const packageOf = (path: string) => {
  const parts = path.replace(/^.*node_modules\//, '').split('/');
  return (parts[0]?.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
};

/** The bundle's file for a source module the CLI imports (an entry, or a command loaded when it runs). */
function outputOf(source: string): string {
  const found = Object.entries(meta().outputs).find(([, o]) => o.entryPoint === source);
  if (!found) throw new Error(`no bundle output for ${source}`);
  return found[0];
}

/** The bundle's file holding a source module's code (an entry's own file may only re-export it from a shared chunk). */
function codeOf(source: string): string {
  const found = Object.entries(meta().outputs).find(([, o]) => source in o.inputs);
  if (!found) throw new Error(`${source} is not in the bundle`);
  return readFileSync(join(DIST, '..', found[0]), 'utf8');
}

/** The packages (not Node built-ins) a bundled module loads through its static imports, transitively: bundled in or external. */
function staticPackages(source: string): Set<string> {
  const { outputs } = meta();
  const packages = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const out = outputs[file];
    if (!out) throw new Error(`${file} is not in the bundle`);
    for (const input of Object.keys(out.inputs)) if (input.includes('node_modules/')) packages.add(packageOf(input));
    for (const i of out.imports) {
      if (i.kind !== 'import-statement') continue;
      if (!i.external) visit(i.path);
      else if (!i.path.startsWith('node:')) packages.add(packageOf(i.path));
    }
  };
  visit(outputOf(source));
  return packages;
}

describe('what the CLI loads before a command runs', () => {
  it('building the program (--help, --version) loads commander and nothing else', () => {
    expect([...staticPackages('src/cli/main.ts')]).toEqual(['commander']);
  });

  it('status loads the ledger (knex, zod, pino), not the queue, the uploader or the dashboard', () => {
    const loaded = staticPackages('src/cli/status.ts');
    expect(loaded).toContain('knex');
    for (const heavy of ['bullmq', 'ioredis', 'cloudinary', 'express', '@bull-board/api', '@bull-board/express', 'pino-pretty']) {
      expect(loaded, `status loads ${heavy}`).not.toContain(heavy);
    }
  });

  it('migrate, stage and worker load no queue, database or SDK before they send the credentials check', () => {
    // The check is a round trip that must end before a batch exists: sent before bullmq, knex and
    // the SDK load (startUploader imports the SDK itself), it is answered while they do.
    for (const command of ['migrate', 'stage', 'worker']) {
      const loaded = staticPackages(`src/cli/${command}.ts`);
      expect(loaded, command).toContain('zod');
      for (const heavy of ['bullmq', 'ioredis', 'knex', 'pg', 'cloudinary']) expect(loaded, `${command} loads ${heavy} first`).not.toContain(heavy);
      const code = codeOf(`src/cli/${command}.ts`);
      const services = /import\("\.\/(services-[\w-]+\.js)"\)/.exec(code);
      expect(services?.[1] && `dist/bundle/${services[1]}`, command).toBe(outputOf('src/pipeline/services.ts'));
      expect(code.indexOf('await startUploader('), command).toBeGreaterThan(0);
      expect(code.indexOf('await startUploader('), `${command} imports the pipeline before sending the check`).toBeLessThan(services!.index);
    }
  });

  it('each command of the program imports its own module when it runs', () => {
    const main = readFileSync(join(DIST, 'src/cli/main.js'), 'utf8');
    for (const [, name] of main.matchAll(/\.command\('([\w-]+)'\)/g)) {
      expect(main).toContain(`import("./${name}.js")`);
      // Bundled, each is a file of its own that only that command loads.
      expect(outputOf(`src/cli/${name}.ts`)).toMatch(new RegExp(`^dist/bundle/${name}-\\w+\\.js$`));
    }
  });
});

describe('the memory of a long-running command', () => {
  // What keepHeapSmall claims, checked on this Node: set from inside the process, the flags hold the
  // young generation at its starting size through the start, then let it grow to its cap and no
  // further, while a loop keeps many objects alive across scavenges. `busy` runs in one task (the
  // start loading its code); `tasks` yields between chunks, as a command working its jobs does.
  const youngGenerationMb = (prelude: string, loop: 'busy' | 'tasks') =>
    Number(
      execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `${prelude}
           const v8 = await import('node:v8');
           let keep = [];
           const started = Date.now();
           for (let i = 0; ${loop === 'busy' ? 'i < 2e6' : 'Date.now() - started < 1500'}; i++) {
             keep.push({ i, s: 'x' + i });
             if (keep.length > 50000) keep = [];
             ${loop === 'tasks' ? 'if (i % 2000 === 0) await new Promise((r) => setImmediate(r));' : ''}
           }
           console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20);`,
        ],
        { encoding: 'utf8' },
      ),
    );
  const entry = JSON.stringify(join(DIST, 'src/heap.js'));

  it('keeps the young generation at its starting size through the start, which V8 alone grows to 16 MB or more', () => {
    expect(youngGenerationMb(`const { keepHeapSmall } = await import(${entry}); keepHeapSmall();`, 'busy')).toBeLessThanOrEqual(2);
    expect(youngGenerationMb('', 'busy')).toBeGreaterThanOrEqual(16);
  });

  it('then lets it grow to its cap, and no further', () => {
    const capMb = YOUNG_GENERATION_BYTES / 2 ** 20;
    expect(youngGenerationMb(`const { keepHeapSmall } = await import(${entry}); keepHeapSmall({ settleMs: 100 });`, 'tasks')).toBe(capMb);
    // V8 alone grows it past the cap in the same loop: the cap is what stops it.
    expect(youngGenerationMb('', 'tasks')).toBeGreaterThan(capMb);
  });

  it('is what the bin and the worker entry do first', () => {
    expect(readFileSync(fileURLToPath(new URL('../bin/media-migrate.js', import.meta.url)), 'utf8')).toMatch(/\nkeepHeapSmall\(\);\n/);
    expect(readFileSync(join(DIST, 'workers/main.js'), 'utf8')).toMatch(/\nkeepHeapSmall\(\);\n/);
  });
});

describe('--help', () => {
  const help = async (argv: string[]) => {
    let out = '';
    const sink = new Writable({ write: (c, _e, cb) => ((out += c.toString()), cb()) });
    const code = await main(['node', 'media-migrate', ...argv, '--help'], { env: {}, stdout: sink, stderr: sink, isTTY: false, logger: captureLogs([], 'silent').logger });
    return { code, out };
  };

  it('shows an example for every command, and the settings on the program', async () => {
    const program = await help([]);
    expect(program.code).toBe(0);
    expect(program.out).toContain('QUEUE_WINDOW');
    const commands = [...program.out.matchAll(/^ {2}([a-z-]+)(?: \[options\]| [<[]|\s{2,})/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect(commands).toEqual(expect.arrayContaining(['migrate', 'enqueue', 'stage', 'worker', 'status', 'retry-failed', 'rollback', 'verify', 'report', 'find', 'discover', 'demo', 'emulator', 'dashboard']));
    for (const command of commands) {
      const r = await help([command]);
      expect(r.code, command).toBe(0);
      expect(r.out, `${command} --help`).toMatch(/\nExample:\n {2}\S/);
    }
  });

  it('says what --concurrency counts, and how to start a canary stage', async () => {
    for (const command of ['migrate', 'stage', 'worker']) expect((await help([command])).out, command).toContain('uploads in flight');
    expect((await help(['stage'])).out).toContain('media-migrate stage --limit 100');
  });
});
