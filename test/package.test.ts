import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { assertCompiled } from './helpers/compiled.ts';

/**
 * What `npm pack` ships and what the compiled bin needs, checked quickly against package.json and
 * dist/ (built by `npm test`). Packing, installing the tarball in an empty folder and running it
 * there is slower and belongs to .ci/run.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
interface PackageJson {
  version: string;
  private?: boolean;
  bin: Record<string, string>;
  exports: Record<string, string>;
  files: string[];
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
const bin = pkg.bin['media-migrate'] ?? '';

/** The package a bare specifier names: `pino`, `@bull-board/api` (for `@bull-board/api/x`). */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

const IMPORTS = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /\bimport\s+['"]([^'"]+)['"]/g, /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g];

describe('package.json', () => {
  it('is publishable: the bin, closed exports, and files that ship the build rather than the sources', () => {
    expect(pkg.private).toBeUndefined();
    expect(bin).toBe('bin/media-migrate.js');
    expect(readFileSync(join(ROOT, bin), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
    // A CLI, not a library: nothing but package.json can be imported from it.
    expect(pkg.exports).toEqual({ './package.json': './package.json' });
    expect(pkg.files).toEqual(['bin', 'dist', 'dashboard/public']);
  });

  it('builds on install (prepare) and before the tests, so no test runs a stale dist/', () => {
    expect(pkg.scripts.build).toContain('tsc -p tsconfig.build.json && node scripts/bundle.mjs');
    expect(pkg.scripts.prepare).toBe('npm run build');
    expect(pkg.scripts.test).toMatch(/npm run build && vitest run$/);
    expect(pkg.scripts.bench).toMatch(/^npm run build && /);
  });

  it('needs neither tsx nor the compiler at run time', () => {
    for (const dev of ['tsx', 'typescript', 'vitest', 'esbuild']) {
      expect(pkg.dependencies[dev], `${dev} in dependencies`).toBeUndefined();
      expect(pkg.devDependencies[dev]).toBeDefined();
    }
  });
});

describe('dist/ (npm run build)', () => {
  it("holds the bin's entry (the bundle) and the worker entry, no older than their sources", () => {
    const entry = /from '(\.\.\/dist\/[^']+)'/.exec(readFileSync(join(ROOT, bin), 'utf8'))?.[1];
    expect(entry).toBe('../dist/bundle/cli.js');
    expect(existsSync(resolve(ROOT, dirname(bin), entry!))).toBe(true);
    expect(existsSync(join(ROOT, 'dist/workers/main.js'))).toBe(true);
    assertCompiled(ROOT);
  });

  it('imports only Node built-ins and runtime dependencies (what `npm install` of the package brings)', () => {
    const builtins = new Set(builtinModules);
    const unknown: string[] = [];
    const compiled = readdirSync(join(ROOT, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js') && !f.startsWith('bundle/'));
    for (const file of compiled) {
      const code = readFileSync(join(ROOT, 'dist', file), 'utf8');
      for (const re of IMPORTS) {
        for (const [, spec = ''] of code.matchAll(re)) {
          if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec)) continue;
          if (!(packageOf(spec) in pkg.dependencies)) unknown.push(`${file}: ${spec}`);
        }
      }
    }
    expect(unknown).toEqual([]);
  });

  it('bundles all but runtime dependencies; what else the bundled code may require is optional, asked for lazily as unbundled', () => {
    const meta = JSON.parse(readFileSync(join(ROOT, 'dist/bundle.meta.json'), 'utf8')) as { outputs: Record<string, { imports: { path: string; kind: string; external?: boolean }[] }> };
    const builtins = new Set(builtinModules);
    // msgpackr's optional native speed-up (installed with it when it builds; pure JS otherwise).
    const optionalInstalled = new Set(['msgpackr-extract']);
    const wrong: string[] = [];
    for (const [file, out] of Object.entries(meta.outputs)) {
      for (const i of out.imports.filter((x) => x.external)) {
        const name = packageOf(i.path.replace(/^node:/, ''));
        if (i.path.startsWith('node:') || builtins.has(name) || name in pkg.dependencies) continue;
        // A knex or debug driver we never install, required inside a function or a try as it is unbundled.
        const optional = i.kind === 'require-call' && (optionalInstalled.has(name) || !existsSync(join(ROOT, 'node_modules', name)));
        if (!optional) wrong.push(`${file}: ${i.kind} ${i.path}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('finds the package root from dist/, so the compiled dashboard serves dashboard/public', async () => {
    const compiled = (await import(pathToFileURL(join(ROOT, 'dist/src/package-root.js')).href)) as { PACKAGE_ROOT: string; packageVersion(): string };
    expect(resolve(compiled.PACKAGE_ROOT)).toBe(resolve(ROOT));
    expect(compiled.packageVersion()).toBe(pkg.version);
    expect(existsSync(join(compiled.PACKAGE_ROOT, 'dashboard/public/index.html'))).toBe(true);
  });

  it('answers --version from the compiled bin', () => {
    expect(execFileSync(process.execPath, [bin, '--version'], { cwd: ROOT, encoding: 'utf8' }).trim()).toBe(pkg.version);
  });
});

describe('npm pack', () => {
  it('ships the bin, dist/, the dashboard page and the README; no tests, benchmarks or TypeScript', () => {
    // --ignore-scripts: list the files without running `prepare` (npm test has just built).
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    const files = ((JSON.parse(out) as { files: { path: string }[] }[])[0]?.files ?? []).map((f) => f.path);
    for (const f of ['package.json', 'README.md', bin, 'dist/bundle/cli.js', 'dist/bundle/heap.js', 'dist/workers/main.js', 'dist/dashboard/app.js', 'dashboard/public/index.html']) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => /^(test|bench|src|workers|docs)\/|\.ts$|^tsconfig|^dashboard\/[^/]+$/.test(f))).toEqual([]);
  });
});
