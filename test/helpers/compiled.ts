import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The folders `npm run build` compiles (tsconfig.build.json), each `x.ts` to `dist/x.js`. */
const COMPILED = ['src', 'workers', 'dashboard'];

/**
 * Spawned processes run the compiled bin, what users run. A dist/ older than the sources would
 * test old code and could pass: `npm test` builds first, and this refuses to spawn from a stale
 * dist/ when a test file is run on its own (`npx vitest run test/faults.test.ts`).
 */
export function assertCompiled(root: string): void {
  // The bin runs the bundle (scripts/bundle.mjs), built from the same sources after tsc.
  const bundle = join(root, 'dist/bundle/cli.js');
  const bundledAt = existsSync(bundle) ? statSync(bundle).mtimeMs : -1;
  for (const dir of COMPILED) {
    for (const entry of readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })) {
      if (!entry.endsWith('.ts') || entry.endsWith('.d.ts')) continue;
      const source = join(dir, entry);
      const output = join('dist', source.replace(/\.ts$/, '.js'));
      const outPath = join(root, output);
      if (!existsSync(outPath) || statSync(outPath).mtimeMs < statSync(join(root, source)).mtimeMs) {
        throw new Error(`${output} is older than ${source} (or missing): run npm run build first (npm test does)`);
      }
      if (bundledAt < statSync(join(root, source)).mtimeMs) {
        throw new Error(`dist/bundle/cli.js is older than ${source} (or missing): run npm run build first (npm test does)`);
      }
    }
  }
}
