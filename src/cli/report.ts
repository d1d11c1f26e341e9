import { ExitError } from '../errors.ts';
import { reportCsv, reportJson } from '../ledger/report.ts';
import { openDatabase } from '../pipeline/services.ts';
import { describeScope } from '../config/scope.ts';
import { println, type CommandIO } from './io.ts';
import { setup } from './setup.ts';
import { resolveBatch } from './status.ts';

export interface ReportOptions {
  batch?: number | undefined;
  format: string;
}

/** `media-migrate report --batch ID --format csv|json`: every record of a batch with its outcome and reason. */
export async function reportCommand(opts: ReportOptions, io: CommandIO): Promise<number> {
  if (opts.format !== 'csv' && opts.format !== 'json') throw new ExitError(2, `--format: expected csv or json, got "${opts.format}"`);
  const { config, logger, res } = setup(io, ['database']);
  try {
    const { ledger } = await openDatabase(config.database, res, logger);
    const batch = await resolveBatch(ledger, opts.batch);
    // What the batch covered, beside the export (stdout stays the file itself).
    println(io.stderr, `Batch ${batch.id} (${batch.kind}${batch.dryRun ? ', dry run' : ''}) covered ${describeScope(batch.scope)}.`);
    const lines = opts.format === 'csv' ? reportCsv(ledger, batch.id) : reportJson(ledger, batch.id);
    for await (const chunk of lines) {
      // Respect back-pressure: a million records piped into `head` must not pile up in memory.
      if (!io.stdout.write(chunk)) await new Promise((r) => io.stdout.once('drain', r));
    }
    return 0;
  } finally {
    await res.close();
  }
}
