import { recordLabel } from '../records/record-steps.ts';
import { nothingFound, Outcome, stagedLine } from '../outcomes.ts';
import { describeScope, isScoped, type ScopeOptions } from '../config/scope.ts';
import { startUploader } from '../pipeline/open-uploader.ts';
import { println, type CommandIO } from './io.ts';
import { setup } from './setup.ts';

export interface StageOptions extends ScopeOptions {
  from?: string | undefined;
  sources?: string | undefined;
  concurrency: number;
  batch?: number | undefined;
  json?: boolean | undefined;
  /** Run a new batch even when none of its first files is under MEDIA_ROOT (a library that lost them). */
  allowMissing?: boolean | undefined;
}

/**
 * `media-migrate stage`: the first half of a zero-downtime cutover. Every file goes to its in-place
 * id, where django-cloudinary-storage will look for the row's current value once it is switched on;
 * no app row is written. Re-run it right before the switch: what is already in place is met as
 * `existing` and nothing is uploaded again. Exit 0 when nothing failed, 1 when a record failed,
 * 2 when a setting is wrong.
 */
export async function stageCommand(opts: StageOptions, io: CommandIO): Promise<number> {
  const { config, logger, res } = setup(io, ['database', 'redis', 'mediaRoot', 'cloudinary']);
  try {
    // The credentials check first, then the rest while it travels (see migrate).
    const { uploader } = await startUploader(config.cloudinary, config.upload, res);
    const [{ openDatabase, openPipeline, settleAll }, { runBatch }, { createProgress }, { nothingFoundLine, runJson, unfinishedRun }, { batchToRun }] =
      await Promise.all([import('../pipeline/services.ts'), import('../pipeline/run-batch.ts'), import('./progress.ts'), import('./run-end.ts'), import('./resume.ts')]);
    const opening = openDatabase(config.database, res, logger);
    // A batch asked for by id runs as it was recorded (its sources, scope and settings).
    const asked = opening.then((database) => batchToRun(database, config, config.mediaRoot, opts, 'stage', 'stage'));
    const [spec, deps] = await settleAll([asked, openPipeline(config, res, logger, { database: opening, uploader })] as const);
    const progress = createProgress({ isTTY: io.isTTY, stream: io.stderr, logger });
    const result = await runBatch(deps, spec, {
      concurrency: opts.concurrency,
      batchId: opts.batch,
      signal: io.signal,
      onProgress: (c, _b, waiting, recording) => progress.update(c, waiting, recording),
    }).finally(() => progress.stop());
    const { counts, batch } = result;
    const notInPlace = [];
    for await (const r of deps.ledger.records.each(batch.id, Outcome.notInPlace)) notInPlace.push(r);

    if (opts.json) {
      println(
        io.stdout,
        JSON.stringify({
          ...runJson(result),
          notInPlaceRecords: notInPlace.map((r) => ({ table: r.table, column: r.column, pk: r.pk, value: r.oldValue ?? null, publicId: r.publicId ?? null, reason: r.reason ?? null, detail: r.detail ?? null })),
        }),
      );
    }
    const unfinished = unfinishedRun(io, result);
    if (unfinished !== undefined) return unfinished;
    if (!opts.json) {
      println(io.stdout, stagedLine(counts));
      if (nothingFound(counts)) println(io.stderr, nothingFoundLine(deps.mediaRoot, batch));
      if (notInPlace.length > 0) {
        println(io.stdout, `Not in place (${notInPlace.length}): once the storage is switched these rows point at nothing until \`migrate\` rewrites them, which it does first:`);
        for (const r of notInPlace) println(io.stdout, `  ${recordLabel(r)}  ${JSON.stringify(r.oldValue ?? '')}  ${r.reason ?? ''}  ${r.detail ?? ''}`.trimEnd());
      }
      if (isScoped(batch.scope)) println(io.stderr, `Batch ${batch.id} covered ${describeScope(batch.scope)}.`);
      println(io.stderr, `Next: media-migrate verify --batch ${batch.id} (proves that switching now serves every staged row), deploy MediaCloudinaryStorage,`);
      println(io.stderr, `      run media-migrate stage again (it places only what was added or changed), then media-migrate migrate.`);
      println(io.stderr, `      Back out: media-migrate rollback --batch ${batch.id} --delete-assets (before the switch, or after switching back).`);
      if (counts.failed > 0) {
        println(
          io.stderr,
          `See the failures: media-migrate status --batch ${batch.id}; re-run them: media-migrate retry-failed --batch ${batch.id} && media-migrate stage --batch ${batch.id}; export all: media-migrate report --batch ${batch.id}`,
        );
      }
    }
    return counts.failed > 0 ? 1 : 0;
  } finally {
    await res.close();
  }
}
