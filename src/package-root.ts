import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package's own folder, where package.json, bin/ and dashboard/public/ are. This file runs from
 * src/ in a checkout (tests) and from dist/src/ once compiled (the bin, an installed package), so the
 * root is found as the nearest folder above it with a package.json, not at a fixed depth.
 */
function nearestPackageDir(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`media-migrate: no package.json above ${start}`);
  }
}

export const PACKAGE_ROOT = nearestPackageDir(dirname(fileURLToPath(import.meta.url)));

/** The version in our package.json: one small file read, so `--version` loads nothing more. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}
