import { recordLabel } from '../records/record-steps.ts';
import { openDatabase } from '../pipeline/services.ts';
import { openUploader } from '../pipeline/open-uploader.ts';
import { loadConfig } from '../config/config.ts';
import { verifyStage } from '../cutover/verify-stage.ts';
import { verifyBatch, type VerifyReport } from '../cloudinary/verify.ts';
import { println, type CommandIO } from './io.ts';
import { setup } from './setup.ts';
import { resolveBatch } from './status.ts';

export interface VerifyOptions {
  batch?: number | undefined;
  json?: boolean | undefined;
}

/** `media-migrate verify [--batch ID]`: exit 0 when every migrated record checks out, 1 otherwise. */
export async function verifyCommand(opts: VerifyOptions, io: CommandIO): Promise<number> {
  const { config, logger, res } = setup(io, ['database', 'cloudinary']);
  try {
    const { db, ledger } = await openDatabase(config.database, res, logger);
    const batch = await resolveBatch(ledger, opts.batch);
    const uploader = await openUploader(config.cloudinary, config.upload, res, { checkCredentials: false });
    // A stage batch is checked against the files too: switching must not serve a stale one.
    const stage = batch.kind === 'stage';
    const mediaRoot = stage ? loadConfig(io.env, ['mediaRoot'], io.cwd).mediaRoot : undefined;
    const limits = { maxFileBytes: config.upload.maxFileBytes, maxVideoBytes: config.upload.maxVideoBytes, keepInMemoryUpToBytes: 0 };
    const r: VerifyReport & { notCovered?: number } = mediaRoot
      ? await verifyStage({ db, ledger, uploader, logger, mediaRoot, limits }, batch)
      : await verifyBatch({ db, ledger, uploader, logger }, batch);
    if (opts.json) {
      println(
        io.stdout,
        JSON.stringify({
          batch: r.batch,
          checked: r.checked,
          ok: r.ok,
          problems: r.findings.length,
          adminCalls: r.adminCalls,
          ...(stage ? { kind: 'stage', notCovered: r.notCovered ?? 0 } : {}),
          findings: r.findings.map((f) => ({ table: f.record.table, column: f.record.column, pk: f.record.pk, publicId: f.record.publicId, problem: f.problem, detail: f.detail })),
        }),
      );
    } else {
      const what = stage ? 'staged records checked as the switched storage will fetch them' : 'migrated records checked';
      println(io.stdout, `Verified batch ${r.batch}: ${r.checked} ${what} (${r.adminCalls} Admin API calls).`);
      println(io.stdout, `  ok ${r.ok}   problems ${r.findings.length}`);
      for (const f of r.findings) println(io.stdout, `  ${recordLabel(f.record)}  ${f.problem}  ${f.detail}`);
      if (stage && r.findings.length === 0) println(io.stdout, `Switching the storage now serves every staged row of batch ${r.batch}.`);
      if (r.notCovered) {
        const rows = r.notCovered === 1 ? '1 row was' : `${r.notCovered} rows were`;
        println(io.stdout, `${rows} added or changed since the stage: run media-migrate stage again to place them.`);
      }
    }
    return r.findings.length > 0 ? 1 : 0;
  } finally {
    await res.close();
  }
}
