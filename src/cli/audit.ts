import { audit, type LocalReference } from '../audit/audit.ts';
import { checkSources } from '../db/check-sources.ts';
import { defaultSources, loadSourcesFile } from '../config/sources.ts';
import { openDatabase } from '../pipeline/services.ts';
import { recordLabel } from '../records/record-steps.ts';
import { println, type CommandIO } from './io.ts';
import { setup, withReferenceSettings } from './setup.ts';

export interface AuditOptions {
  sources?: string | undefined;
  json?: boolean | undefined;
  list?: boolean | undefined;
}

/** 3.4 MB, 12.0 kB, 512 B: the size a person reads. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/**
 * `media-migrate audit`: can the old disk go? Reads every configured source and MEDIA_ROOT, writes
 * nothing, uploads nothing, and ends with one line. Exit 0 when nothing in the database needs
 * MEDIA_ROOT any more, 1 while something does.
 */
export async function auditCommand(opts: AuditOptions, io: CommandIO): Promise<number> {
  const { config, logger, res } = setup(io, ['database', 'mediaRoot']);
  try {
    const { db, ledger } = await openDatabase(config.database, res, logger);
    const listed = opts.sources ? await loadSourcesFile(opts.sources) : defaultSources(config.storage.appLabel);
    const sources = withReferenceSettings(await checkSources(db, listed), config.storage);
    const references: (LocalReference & { missing: boolean })[] = [];
    const unreferenced: { path: string; bytes: number }[] = [];
    const report = await audit(
      {
        db,
        ledger,
        mediaRoot: config.mediaRoot,
        prefix: config.storage.prefix,
        references: { mediaUrl: config.storage.mediaUrl, mediaOrigins: config.storage.mediaOrigins },
        ...(opts.list
          ? {
              // As JSON the lists come whole; as lines they stream, so a million rows cost no memory.
              onReference: (r) => (opts.json ? references.push(r) : println(io.stdout, `local ${recordLabel(r)} ${r.name}${r.missing ? ' (missing)' : ''}`)),
              onUnreferenced: (f) => (opts.json ? unreferenced.push(f) : println(io.stdout, `unreferenced ${f.path} (${formatBytes(f.bytes)})`)),
            }
          : {}),
      },
      sources,
    );
    const ok = report.localReferences === 0;
    if (opts.json) {
      println(io.stdout, JSON.stringify({ ok, ...report, ...(opts.list ? { references, unreferenced } : {}) }));
      return ok ? 0 : 1;
    }
    for (const s of report.sources) {
      println(io.stderr, `${s.localReferences === 0 ? '✔' : '✖'} ${s.table}.${s.column} (${s.kind}): ${s.rows} rows, ${s.localReferences} local references, ${s.missingFiles} missing files`);
    }
    println(
      io.stdout,
      `${ok ? '✔' : '✖'} AUDIT | Local references=${report.localReferences} | Missing files=${report.missingFiles} | Unreferenced files=${report.unreferencedFiles} (${formatBytes(report.unreferencedBytes)})`,
    );
    if (!ok) println(io.stderr, 'The old disk is still needed: migrate what is left (audit --list names each row), then run audit again.');
    else println(io.stderr, 'Nothing in the configured sources needs MEDIA_ROOT any more: the old disk can go once the app runs on Cloudinary storage.');
    return ok ? 0 : 1;
  } finally {
    await res.close();
  }
}
