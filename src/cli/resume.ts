import { resolve } from 'node:path';
import { ConfigError, ExitError } from '../errors.ts';
import type { Knex } from 'knex';
import type { Config } from '../config/config.ts';
import type { Batch, BatchKind, BatchSpec, Ledger } from '../ledger/ledger.ts';
import { applyOnly, describeScope, scopeFrom, type ScopeOptions } from '../config/scope.ts';
import { loadSourcesFile, type Source } from '../config/sources.ts';
import { batchSpec, refuseWrongMediaRoot } from './setup.ts';

/**
 * `migrate --batch N`, `stage --batch N` and `enqueue --batch N` resume a batch as it was recorded:
 * its sources, scope, store, dry run, prefix and tag, exactly as `worker` and the dashboard take it.
 * Nothing is read from the default models or the sources file then (a batch of a custom sources file
 * would otherwise be checked against tables the app does not have). A flag that asks for something
 * else than the batch recorded is refused by name rather than silently ignored; a flag that repeats
 * what it recorded is fine.
 */

export interface ResumeOptions extends ScopeOptions {
  sources?: string | undefined;
  from?: string | undefined;
  store?: string | undefined;
  dryRun?: boolean | undefined;
  /** enqueue's --stage */
  stage?: boolean | undefined;
}

/** Which command resumes: `migrate` and `stage` each run their own kind; `enqueue` either. */
export type ResumingCommand = 'migrate' | 'stage' | 'enqueue';

/**
 * What `migrate`, `stage` and `enqueue` run: the batch `--batch N` asks for, as it was recorded, or a
 * new one from the flags, refused when none of its first files is under MEDIA_ROOT.
 */
export async function batchToRun(
  database: { db: Knex; ledger: Ledger },
  config: Config<'database'>,
  mediaRoot: string | undefined,
  opts: ResumeOptions & { batch?: number | undefined; allowMissing?: boolean | undefined },
  command: ResumingCommand,
  kind: BatchKind,
): Promise<BatchSpec> {
  if (opts.batch !== undefined) return resumedBatch(database.ledger, opts.batch, opts, command);
  return refuseWrongMediaRoot(database, await batchSpec(database.db, config, { ...opts, kind }), mediaRoot, opts);
}

export async function resumedBatch(ledger: Ledger, batchId: number, opts: ResumeOptions, command: ResumingCommand): Promise<Batch> {
  const batch = await ledger.batches.get(batchId);
  if (!batch) throw new ExitError(2, `--batch ${batchId}: no such batch`);
  const refuse = (flag: string, what: string, option = flag.split(' ')[0]) =>
    new ExitError(2, `${flag}: batch ${batch.id} ${what}; drop ${option} to resume it, or leave out --batch for a new batch`);

  if (command !== 'enqueue' && batch.kind !== command) {
    throw new ExitError(2, `--batch ${batch.id}: batch ${batch.id} is a ${batch.kind} batch; resume it with media-migrate ${batch.kind} --batch ${batch.id}`);
  }
  if (opts.stage && batch.kind !== 'stage') throw refuse('--stage', `is a ${batch.kind} batch`);
  if (opts.dryRun && !batch.dryRun) throw refuse('--dry-run', 'is not a dry run');
  if (opts.store !== undefined && opts.store !== batch.store) throw refuse(`--store ${opts.store}`, `writes ${batch.store}`);

  const scope = scopeFrom(opts);
  const recorded = `was recorded with ${describeScope(batch.scope)}`;
  if (scope.limit !== undefined && scope.limit !== batch.scope.limit) throw refuse(`--limit ${scope.limit}`, recorded);
  if (scope.only !== undefined && !sameSet(scope.only, batch.scope.only ?? [])) throw refuse(`--only ${scope.only.join(',')}`, recorded);
  if (scope.pkFrom !== undefined && scope.pkFrom !== batch.scope.pkFrom) throw refuse(`--pk-from ${scope.pkFrom}`, recorded);
  if (scope.pkTo !== undefined && scope.pkTo !== batch.scope.pkTo) throw refuse(`--pk-to ${scope.pkTo}`, recorded);
  if (opts.from !== undefined && resolve(opts.from) !== batch.scope.from?.file) throw refuse(`--from ${opts.from}`, recorded);

  if (opts.sources !== undefined && !(await sameSources(opts.sources, batch))) {
    const names = batch.sources.map((s) => `${s.table}.${s.column}`).join(', ');
    throw refuse(`--sources ${opts.sources}`, `was recorded with other sources (${names})`);
  }
  return batch;
}

/**
 * Whether a sources file lists what the batch recorded: the batch keeps the sources its `--only`
 * kept (and a scoped stage batch every source, to look for claims), so the file is compared the same way.
 */
async function sameSources(file: string, batch: Batch): Promise<boolean> {
  const listed = await loadSourcesFile(file);
  let kept: Source[];
  try {
    kept = applyOnly(listed, batch.scope.only);
  } catch (err) {
    if (err instanceof ConfigError) return false; // the file lacks a source the batch's --only named
    throw err;
  }
  if (!sameList(kept, batch.sources)) return false;
  return batch.claimSources === undefined || sameList(listed, batch.claimSources);
}

const sameList = (a: readonly Source[], b: readonly Source[]) =>
  a.length === b.length && a.every((s, i) => s.table === b[i]!.table && s.column === b[i]!.column && s.pk === b[i]!.pk);

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x) => b.includes(x));
