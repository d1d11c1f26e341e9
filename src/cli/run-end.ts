import { isScoped } from '../config/scope.ts';
import type { RunBatchResult } from '../pipeline/run-batch.ts';
import type { Batch } from '../ledger/ledger.ts';
import { println, type CommandIO } from './io.ts';

/**
 * How a run of `migrate` or `stage` ended when it did not finish: refused (this machine cannot see
 * the media), halted (Cloudinary refused the credentials) or interrupted (a signal). Says so and
 * gives the exit code; undefined when the batch ran to its end.
 */
export function unfinishedRun(io: CommandIO, result: RunBatchResult): number | undefined {
  const { batch, counts } = result;
  if (result.refused) {
    println(io.stderr, `media-migrate: ${result.refused}`);
    return 2;
  }
  if (result.halted) {
    println(io.stderr, `media-migrate: batch ${batch.id} halted: ${result.halted}`);
    println(io.stderr, `Fix the credentials, then run the same command again to resume batch ${batch.id}.`);
    return 2;
  }
  if (result.interrupted) {
    println(io.stderr, `Interrupted: batch ${batch.id} has ${counts.pending} records pending; run the same command again to resume.`);
    return 0;
  }
  return undefined;
}

/** The `--json` keys every run of `migrate` and `stage` prints, whatever its kind adds. */
export function runJson(result: RunBatchResult): Record<string, unknown> {
  const { batch, counts } = result;
  return {
    batch: batch.id,
    kind: batch.kind,
    ...counts,
    halted: result.halted ?? null,
    interrupted: result.interrupted,
    scope: isScoped(batch.scope) ? batch.scope : null,
  };
}

/** Said under a summary whose batch found none of its files (run with --allow-missing, or resumed). */
export function nothingFoundLine(mediaRoot: string, batch: Pick<Batch, 'id' | 'kind'>): string {
  return (
    `Batch ${batch.id} found none of its files under MEDIA_ROOT=${mediaRoot}: is it the folder Django saved uploads in? ` +
    `Once it is right: media-migrate retry-failed --batch ${batch.id} --outcome missing && media-migrate ${batch.kind} --batch ${batch.id}`
  );
}
