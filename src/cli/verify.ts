import { recordLabel } from '../migrate-record.ts';
import { openDatabase, openUploader } from '../services.ts';
import { verifyBatch } from '../verify.ts';
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
    const r = await verifyBatch({ db, ledger, uploader, logger }, batch);
    if (opts.json) {
      println(
        io.stdout,
        JSON.stringify({
          batch: r.batch,
          checked: r.checked,
          ok: r.ok,
          problems: r.findings.length,
          adminCalls: r.adminCalls,
          findings: r.findings.map((f) => ({ table: f.record.table, column: f.record.column, pk: f.record.pk, publicId: f.record.publicId, problem: f.problem, detail: f.detail })),
        }),
      );
    } else {
      println(io.stdout, `Verified batch ${r.batch}: ${r.checked} migrated records checked (${r.adminCalls} Admin API calls).`);
      println(io.stdout, `  ok ${r.ok}   problems ${r.findings.length}`);
      for (const f of r.findings) println(io.stdout, `  ${recordLabel(f.record)}  ${f.problem}  ${f.detail}`);
    }
    return r.findings.length > 0 ? 1 : 0;
  } finally {
    await res.close();
  }
}
