/**
 * The bin runs a bundle of the CLI (dist/bundle/), not the file-per-module output of tsc: loading
 * ~700 small modules, CommonJS ones scanned for their exports one by one, took most of a command's
 * start (on a 2-core VM, `migrate`'s first upload came ~0.2 s sooner bundled). Every command still
 * loads its own chunk when it runs (code splitting keeps each dynamic import()), so `--help` loads
 * commander alone and the credentials check still goes before the queue, the database and the SDK.
 *
 * Left out of the bundle, loaded from node_modules as before: native addons (better-sqlite3), what
 * finds its own files at run time (pino's transports, the Cloudinary SDK reading its package.json for
 * its version, bull-board's page), drivers only one database needs (mysql2), and the optional drivers
 * knex and msgpackr ask for but we never install. Writes dist/bundle.meta.json, what went where
 * (test/startup.test.ts reads it).
 */
import { writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const external = [
  'better-sqlite3',
  'pino',
  'pino-pretty',
  'cloudinary',
  'express',
  '@bull-board/*',
  'mysql2',
  'mysql2/*',
  // Optional drivers and addons that are not installed; requiring one would fail as it does unbundled.
  'pg-native',
  'pg-query-stream',
  'sqlite3',
  'mysql',
  'mariadb',
  'mariadb/*',
  'oracledb',
  'tedious',
  'msgpackr-extract',
];

const result = await build({
  entryPoints: { cli: 'src/cli/main.ts', heap: 'src/heap.ts' },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  // CommonJS code inside an ES module bundle still calls require() for Node's built-ins.
  banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
  metafile: true,
  logLevel: 'warning',
});
writeFileSync('dist/bundle.meta.json', JSON.stringify(result.metafile));
