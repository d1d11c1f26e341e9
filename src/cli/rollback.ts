import { ExitError } from '../errors.ts';
import { Outcome, Reason } from '../outcomes.ts';
import { recordLabel } from '../records/record-steps.ts';
import { rollbackBatch } from '../records/rollback.ts';
import { openDatabase } from '../pipeline/services.ts';
import { openUploader } from '../pipeline/open-uploader.ts';
import type { CloudinaryConfig } from '../config/config.ts';
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
  // Cloudinary is needed to delete assets, and to take MEDIA_TAG back from staged assets whose rows
  // go back to their paths: read its settings whenever they are given.
  const given = Boolean(io.env.CLOUDINARY_URL || io.env.CLOUD_NAME || io.env.CLOUDINARY_CLOUD_NAME);
  const { config, logger, res } = setup(io, opts.deleteAssets || given ? ['database', 'cloudinary'] : ['database']);
  try {
    const { db, ledger } = await openDatabase(config.database, res, logger);
    const batch = await ledger.batches.get(opts.batch);
    if (!batch) throw new ExitError(2, `--batch ${opts.batch}: no such batch`);
    // Rows rewritten to a staged asset go back to their path; that asset must then lose MEDIA_TAG,
    // which takes Cloudinary's credentials as deleting assets does.
    const inPlace = batch.kind === 'migrate' ? await ledger.counts.ofReason(batch.id, Outcome.migrated, Reason.inPlace) : 0;
    const cloudinary = 'cloudinary' in config ? (config.cloudinary as CloudinaryConfig) : undefined;
    if (inPlace > 0 && !cloudinary) {
      throw new ExitError(2, `CLOUDINARY_URL: not set; rolling back batch ${batch.id} must take MEDIA_TAG back from ${inPlace} staged assets its rows go back to`);
    }
    const uploader = cloudinary ? await openUploader(cloudinary, config.upload, res, { checkCredentials: true }) : undefined;
    const r = await rollbackBatch({ db, ledger, logger, uploader, deleteAssets: Boolean(opts.deleteAssets) }, batch);
    if (r.rowsServedByDeleted > 0) {
      println(
        io.stderr,
        `Warning: ${r.rowsServedByDeleted} rows still hold file paths the deleted assets served. That is harmless while the app's storage is the file system; if it may already be MediaCloudinaryStorage, switch it back (or run media-migrate stage again) now: those images are gone.`,
      );
    }
    if (opts.json) {
      println(
        io.stdout,
        JSON.stringify({
          batch: batch.id,
          kind: batch.kind,
          restored: r.restored,
          left: r.left.length,
          cancelled: r.cancelled,
          deletedAssets: r.deletedAssets,
          keptAssets: r.keptAssets,
          untagged: r.untagged,
          rowsServedByDeleted: r.rowsServedByDeleted,
          leftRecords: r.left.map((x) => ({ table: x.table, column: x.column, pk: x.pk })),
        }),
      );
      return 0;
    }
    if (batch.kind === 'stage') {
      println(io.stdout, `Rolled back stage batch ${batch.id}: it wrote no row, so no row changes.`);
    } else {
      println(io.stdout, `Rolled back batch ${batch.id}: restored ${r.restored} rows, left ${r.left.length} rows that changed since.`);
      if (r.untagged) println(io.stdout, `${r.untagged} rows went back to paths their staged assets serve; those assets lost MEDIA_TAG again.`);
    }
    if (r.cancelled) println(io.stdout, `Cancelled ${r.cancelled} records that were still pending.`);
    if (opts.deleteAssets) println(io.stdout, `Deleted ${r.deletedAssets} assets from Cloudinary; kept ${r.keptAssets} still needed by other batches.`);
    for (const x of r.left) {
      // A text row's value is a whole page: name the row, not what it held.
      const held = (x.newValue ?? '').length > 120 || (x.newValue ?? '').includes('\n') ? 'the text the batch wrote' : x.newValue;
      println(io.stdout, `  left ${recordLabel(x)}: it no longer holds ${held}`);
    }
    return 0;
  } finally {
    await res.close();
  }
}
