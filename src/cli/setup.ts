import type { Knex } from 'knex';
import { loadConfig, type Config, type Section } from '../config/config.ts';
import type { BatchKind, BatchSpec } from '../ledger/ledger.ts';
import type { Logger } from '../logger.ts';
import { Resources } from '../resources.ts';
import { defaultSources, isTextSource, loadSourcesFile, type CheckedSource, type Source } from '../config/sources.ts';
import { STORE_MODES, type StoreMode } from '../ledger/types.ts';
import { ExitError } from '../errors.ts';
import { applyOnly, isScoped, scopeFrom, type ScopeOptions } from '../config/scope.ts';
import { resolve } from 'node:path';
import type { Ledger } from '../ledger/ledger.ts';
import { loggerFor, type CommandIO } from './io.ts';

/**
 * The first steps every command shares: settings, logger, and a place to register what it opens.
 * This module stays light (what checks the schema, reads a --from list or samples MEDIA_ROOT is
 * imported when it runs): the pipeline's commands send their credentials check right after setup,
 * before the rest of their modules load (open-uploader.ts).
 */
export function setup<S extends Section>(io: CommandIO, needs: readonly S[]): { config: Config<S>; logger: Logger; res: Resources } {
  const config = loadConfig(io.env, needs, io.cwd);
  const logger = loggerFor(io, config.logLevel, config.secrets);
  return { config, logger, res: new Resources() };
}

export function parseStore(value: string | undefined): StoreMode {
  const v = (value ?? 'public_id') as StoreMode;
  if (!STORE_MODES.includes(v)) throw new ExitError(2, `--store: expected public_id or url, got "${value}"`);
  return v;
}

/**
 * A stage batch places FileField files at their in-place ids; media inside text has no such place (its
 * URLs keep serving from MEDIA_ROOT until migrate rewrites them), so stage leaves text sources out.
 */
export function forKind<S extends Source>(kind: BatchKind, sources: readonly S[]): S[] {
  if (kind !== 'stage') return [...sources];
  const files = sources.filter((s) => !isTextSource(s));
  if (files.length === 0) {
    throw new ExitError(2, 'stage: every source is a "text" source; stage places FileField files only (migrate rewrites media inside text)');
  }
  return files;
}

/** Text sources carry the batch's MEDIA_URL and MEDIA_ORIGINS, so every worker reads their URLs alike. */
export function withReferenceSettings(sources: CheckedSource[], storage: { mediaUrl: string; mediaOrigins: string[] }): CheckedSource[] {
  return sources.map((s) => (isTextSource(s) ? { ...s, references: { mediaUrl: storage.mediaUrl, mediaOrigins: storage.mediaOrigins } } : s));
}

/** Sources from --sources FILE, or the seed app's three models; checked against the live schema. */
export async function batchSpec(
  db: Knex,
  config: Config<'database'>,
  opts: { sources?: string | undefined; store?: string | undefined; dryRun?: boolean | undefined; kind?: BatchKind | undefined; from?: string | undefined } & ScopeOptions,
): Promise<BatchSpec> {
  const sources = opts.sources ? await loadSourcesFile(opts.sources) : defaultSources(config.storage.appLabel);
  const scope = scopeFrom(opts);
  if (opts.from !== undefined) {
    if (scope.limit !== undefined || scope.pkFrom !== undefined || scope.pkTo !== undefined) {
      throw new ExitError(2, '--from: the file says which rows; drop --limit, --pk-from and --pk-to');
    }
    const file = resolve(opts.from);
    const { summarizeRecordList } = await import('../config/record-list.ts');
    scope.from = { file, ...(await summarizeRecordList(file)) };
  }
  const kind = opts.kind ?? 'migrate';
  const { checkSources } = await import('../db/check-sources.ts');
  return {
    kind,
    sources: withReferenceSettings(await checkSources(db, forKind(kind, applyOnly(sources, scope.only))), config.storage),
    // A scoped stage batch looks through every source for values claiming its in-place ids.
    ...(kind === 'stage' && isScoped(scope) ? { claimSources: await checkSources(db, forKind(kind, sources)) } : {}),
    scope,
    store: parseStore(opts.store),
    dryRun: Boolean(opts.dryRun),
    prefix: config.storage.prefix,
    tag: config.storage.tag,
  };
}

/**
 * A new batch whose first files are none of them under MEDIA_ROOT is refused before it is recorded:
 * MEDIA_ROOT is most likely the wrong folder, and every record would end `missing` (see
 * media-sample.ts). `--allow-missing` says the library really lost them. A batch being resumed is
 * left to its MEDIA_ROOT fingerprint, which every worker checks.
 */
export async function refuseWrongMediaRoot(
  database: { db: Knex; ledger: Ledger },
  spec: BatchSpec,
  mediaRoot: string | undefined,
  opts: { allowMissing?: boolean | undefined },
): Promise<BatchSpec> {
  if (mediaRoot === undefined || opts.allowMissing) return spec;
  if (await database.ledger.batches.findResumable(spec)) return spec;
  const { sampleMediaRoot, wrongMediaRoot } = await import('../pipeline/media-sample.ts');
  const refusal = wrongMediaRoot(mediaRoot, await sampleMediaRoot(database.db, database.ledger, spec, mediaRoot));
  if (refusal) throw new ExitError(2, refusal);
  return spec;
}
