import { nothingFound, Outcome, Reason, summaryLine } from '../outcomes.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { describeScope, isScoped, type ScopeOptions } from '../config/scope.ts';
import { startUploader } from '../pipeline/open-uploader.ts';
import { println, type CommandIO } from './io.ts';
import { setup } from './setup.ts';

export interface MigrateOptions extends ScopeOptions {
  from?: string | undefined;
  sources?: string | undefined;
  concurrency: number;
  dryRun?: boolean | undefined;
  store?: string | undefined;
  batch?: number | undefined;
  json?: boolean | undefined;
  /** Run a new batch even when none of its first files is under MEDIA_ROOT (a library that lost them). */
  allowMissing?: boolean | undefined;
}

/** What the rewrite after a stage batch did, and how long the rows it could not place were exposed. */
function rewriteLine(stageBatch: number, r: { inPlace: number; rewrittenFirst: number; exposedMs: number | null }): string {
  const first =
    r.rewrittenFirst === 0
      ? 'no row was without a staged asset'
      : `${r.rewrittenFirst} not in place, uploaded and rewritten first: all within ${(r.exposedMs! / 1000).toFixed(1)} s of the batch's start (their images were missing from the switch until then)`;
  return `Rewritten in place (stage batch ${stageBatch}, no upload): ${r.inPlace} · ${first}`;
}

/** Records of the batch skipped because their row already points at Cloudinary. */
async function alreadyInCloudinary(ledger: Ledger, batchId: number): Promise<number> {
  const skipped = await ledger.counts.byReason(batchId, Outcome.skipped);
  return skipped.filter((r) => r.reason === Reason.alreadyMigrated || r.reason === Reason.cloudinaryId).reduce((n, r) => n + r.count, 0);
}

/**
 * `media-migrate migrate`: the one-shot job on one machine. Exit 0 when nothing failed, 1 when a
 * record failed, 2 when a setting is wrong (including credentials Cloudinary refuses).
 */
export async function migrateCommand(opts: MigrateOptions, io: CommandIO): Promise<number> {
  const { config, logger, res } = setup(io, ['database', 'redis', 'mediaRoot', 'cloudinary']);
  try {
    // The credentials check first, then the pipeline's modules while it travels (open-uploader.ts);
    // Redis and the database open side by side with it: a newcomer waits for the slowest, not the sum.
    // A dry run uploads nothing, but a wrong secret is still worth knowing before the real one.
    const { uploader } = await startUploader(config.cloudinary, config.upload, res);
    const [{ openDatabase, openPipeline, settleAll }, { runBatch }, { createProgress }, { nothingFoundLine, runJson, unfinishedRun }, { batchToRun }] =
      await Promise.all([import('../pipeline/services.ts'), import('../pipeline/run-batch.ts'), import('./progress.ts'), import('./run-end.ts'), import('./resume.ts')]);
    const opening = openDatabase(config.database, res, logger);
    // A batch asked for by id runs as it was recorded (its sources, scope and settings).
    const spec = opening.then((database) => batchToRun(database, config, config.mediaRoot, opts, 'migrate', 'migrate'));
    const [batchSpecOrResumed, deps] = await settleAll([spec, openPipeline(config, res, logger, { database: opening, uploader })] as const);
    const progress = createProgress({ isTTY: io.isTTY, stream: io.stderr, logger });
    const result = await runBatch(
      deps,
      batchSpecOrResumed,
      { concurrency: opts.concurrency, batchId: opts.batch, signal: io.signal, onProgress: (c, _b, waiting, recording) => progress.update(c, waiting, recording) },
    ).finally(() => progress.stop());

    const { counts, batch } = result;
    const rewrite = batch.stageBatchId !== undefined ? await deps.ledger.cutover.rewriteFigures(batch) : undefined;
    if (opts.json) {
      println(
        io.stdout,
        JSON.stringify({
          ...runJson(result),
          ...(rewrite
            ? { stageBatch: batch.stageBatchId, inPlace: rewrite.inPlace, rewrittenFirst: rewrite.rewrittenFirst, exposedSeconds: rewrite.exposedMs === null ? null : rewrite.exposedMs / 1000 }
            : {}),
        }),
      );
    }
    const unfinished = unfinishedRun(io, result);
    if (unfinished !== undefined) return unfinished;
    if (!opts.json) {
      // Only a batch that found no file at all needs to know what its skipped records were.
      const skippedAsMigrated = nothingFound(counts) ? await alreadyInCloudinary(deps.ledger, batch.id) : 0;
      println(io.stdout, summaryLine(counts, { dryRun: batch.dryRun, skippedAsMigrated }));
      if (nothingFound(counts, { skippedAsMigrated })) println(io.stderr, nothingFoundLine(deps.mediaRoot, batch));
      if (rewrite) println(io.stdout, rewriteLine(batch.stageBatchId!, rewrite));
      if (isScoped(batch.scope)) {
        println(io.stderr, `Batch ${batch.id} covered ${describeScope(batch.scope)}; run migrate without a scope for the rest (what this one migrated is skipped).`);
      }
      if (counts.failed > 0) {
        // Exactly what re-runs them: retry-failed only re-queues, and --batch brings the batch's own sources.
        println(io.stderr, `See the failures: media-migrate status --batch ${batch.id}; re-run them: media-migrate retry-failed --batch ${batch.id} && media-migrate migrate --batch ${batch.id}`);
      }
    }
    return counts.failed > 0 ? 1 : 0;
  } finally {
    await res.close();
  }
}
