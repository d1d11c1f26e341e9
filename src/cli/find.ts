import { assetUrl } from '../config/cloudinary.ts';
import { deliveryTarget } from '../config/cloudinary.ts';
import { ExitError } from '../errors.ts';
import { recordLabel } from '../records/record-steps.ts';
import { searchRecords } from '../ledger/search.ts';
import { openDatabase } from '../pipeline/services.ts';
import { println, type CommandIO } from './io.ts';
import { setup } from './setup.ts';

export interface FindOptions {
  limit: number;
  before?: number | undefined;
  json?: boolean | undefined;
}

/**
 * `media-migrate find QUERY`: any record of any batch — by table, by `table:pk`, or by a piece of its
 * path or public_id — with its history: every batch that touched it, what happened, and where its
 * asset is. Exit 0 when something was found, 1 when nothing was.
 */
export async function findCommand(query: string, opts: FindOptions, io: CommandIO): Promise<number> {
  if (query.trim() === '') throw new ExitError(2, 'find: QUERY is empty (a table, table:pk, or a piece of a path or public_id)');
  const { config, logger, res } = setup(io, ['database']);
  const target = deliveryTarget(io.env);
  try {
    const { db } = await openDatabase(config.database, res, logger);
    const r = await searchRecords(db, query, { perPage: opts.limit, ...(opts.before !== undefined ? { before: opts.before } : {}) });
    const link = (publicId: string | null, outcome: string, dryRun: boolean) =>
      target && publicId && !dryRun && (outcome === 'migrated' || outcome === 'staged') ? assetUrl(target, publicId) : null;
    if (opts.json) {
      println(
        io.stdout,
        JSON.stringify({
          ...r,
          records: r.records.map((f) => ({ ...f, history: f.history.map((e) => ({ ...e, url: link(e.publicId, e.outcome, e.dryRun) })) })),
        }),
      );
      return r.records.length > 0 ? 0 : 1;
    }
    if (r.records.length === 0) {
      println(io.stdout, `No record matches ${JSON.stringify(r.query)} (a table, table:pk, or a piece of a path or public_id).`);
      return 1;
    }
    for (const f of r.records) {
      println(io.stdout, recordLabel(f));
      for (const e of f.history) {
        const change = e.newValue && e.newValue !== e.oldValue ? `${e.oldValue ?? ''} → ${e.newValue}` : (e.oldValue ?? '');
        const url = link(e.publicId, e.outcome, e.dryRun);
        const bits = [
          `batch ${e.batch} (${e.kind}${e.dryRun ? ', dry run' : ''})`,
          `${e.outcome}${e.reason ? ` ${e.reason}` : ''}${e.rolledBack ? ' (rolled back)' : ''}`,
          `attempts ${e.attempts}`,
          change,
          url ?? e.publicId ?? '',
        ].filter(Boolean);
        println(io.stdout, `  ${bits.join(' · ')}`);
        if (e.detail && e.outcome !== 'migrated' && e.outcome !== 'staged') println(io.stdout, `    ${e.detail}`);
      }
    }
    if (r.next !== null) println(io.stdout, `More: media-migrate find ${JSON.stringify(r.query)} --before ${r.next}`);
    return 0;
  } finally {
    await res.close();
  }
}
