import { ExitError } from '../errors.ts';
import { recordLabel } from '../migrate-record.ts';
import { rollbackBatch } from '../rollback.ts';
import { openDatabase, openUploader } from '../services.ts';
import { println, type CommandIO } from './io.ts';
import { setup } from './setup.ts';

export interface RollbackOptions {
  batch?: number | undefined;
  deleteAssets?: boolean | undefined;
  json?: boolean | undefined;
}

/** `media-migrate rollback --batch ID [--delete-assets]`. */
export async function rollbackCommand(opts: RollbackOptions, io: CommandIO): Promise<number> {
  if (opts.batch === undefined) throw new ExitError(2, 'rollback: --batch ID is required (see media-migrate status)');
  const { config, logger, res } = setup(io, opts.deleteAssets ? ['database', 'cloudinary'] : ['database']);
  try {
    const { db, ledger } = await openDatabase(config.database, res, logger);
    const batch = await ledger.getBatch(opts.batch);
    if (!batch) throw new ExitError(2, `--batch ${opts.batch}: no such batch`);
    const uploader =
      opts.deleteAssets && config.cloudinary
        ? await openUploader(config.cloudinary, config.upload, res, { checkCredentials: true })
        : undefined;
    const r = await rollbackBatch({ db, ledger, logger, uploader }, batch);
    if (opts.json) {
      println(
        io.stdout,
        JSON.stringify({
          batch: batch.id,
          restored: r.restored,
          left: r.left.length,
          cancelled: r.cancelled,
          deletedAssets: r.deletedAssets,
          keptAssets: r.keptAssets,
          leftRecords: r.left.map((x) => ({ table: x.table, column: x.column, pk: x.pk })),
        }),
      );
      return 0;
    }
    println(io.stdout, `Rolled back batch ${batch.id}: restored ${r.restored} rows, left ${r.left.length} rows that changed since.`);
    if (r.cancelled) println(io.stdout, `Cancelled ${r.cancelled} records that were still pending.`);
    if (opts.deleteAssets) println(io.stdout, `Deleted ${r.deletedAssets} assets from Cloudinary; kept ${r.keptAssets} still used by other batches.`);
    for (const x of r.left) println(io.stdout, `  left ${recordLabel(x)}: it no longer holds ${x.newValue}`);
    return 0;
  } finally {
    await res.close();
  }
}
