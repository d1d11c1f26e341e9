import { batchStatus, type BatchStatus } from '../batch-status.ts';
import { ExitError } from '../errors.ts';
import type { Batch, Ledger } from '../ledger.ts';
import { recordLabel } from '../migrate-record.ts';
import { Outcome } from '../outcomes.ts';
import { openDatabase } from '../services.ts';
import { println, type CommandIO } from './io.ts';
import { setup } from './setup.ts';

export interface StatusOptions {
  batch?: number | undefined;
  json?: boolean | undefined;
}

export async function resolveBatch(ledger: Ledger, id: number | undefined): Promise<Batch> {
  const batch = id === undefined ? await ledger.latestBatch() : await ledger.getBatch(id);
  if (!batch) throw new ExitError(2, id === undefined ? 'no batch yet: run media-migrate migrate first' : `--batch ${id}: no such batch`);
  return batch;
}

const pad = (s: string | number, n: number) => String(s).padStart(n);

function render(s: BatchStatus): string[] {
  const lines = [
    `Batch ${s.batch} · ${s.state}${s.dryRun ? ' · dry run' : ''} · store ${s.store} · started ${s.createdAt}`,
    `  migrated ${s.migrated}   missing ${s.missing}   skipped ${s.skipped}   failed ${s.failed}   pending ${s.pending}   (total ${s.total})`,
  ];
  if (s.haltedReason) lines.push(`  halted: ${s.haltedReason}`);
  if (s.sources.length > 0) {
    const w = Math.max(6, ...s.sources.map((x) => `${x.table}.${x.column}`.length));
    lines.push('', `  ${'source'.padEnd(w)} ${pad('total', 7)} ${pad('migrated', 9)} ${pad('missing', 8)} ${pad('skipped', 8)} ${pad('failed', 7)} ${pad('pending', 8)}`);
    for (const x of s.sources) {
      lines.push(
        `  ${`${x.table}.${x.column}`.padEnd(w)} ${pad(x.total, 7)} ${pad(x.migrated, 9)} ${pad(x.missing, 8)} ${pad(x.skipped, 8)} ${pad(x.failed, 7)} ${pad(x.pending, 8)}`,
      );
    }
  }
  return lines;
}

/** `media-migrate status`: the ledger's figures for a batch (the latest by default). */
export async function statusCommand(opts: StatusOptions, io: CommandIO): Promise<number> {
  const { config, logger, res } = setup(io, ['database']);
  try {
    const { ledger } = await openDatabase(config.database, res, logger);
    const batch = await resolveBatch(ledger, opts.batch);
    const s = await batchStatus(ledger, batch);
    if (opts.json) {
      println(io.stdout, JSON.stringify(s));
      return 0;
    }
    for (const line of render(s)) println(io.stdout, line);
    for (const outcome of [Outcome.failed, Outcome.missing] as const) {
      const count = s[outcome];
      if (count === 0) continue;
      const shown = await ledger.records(batch.id, { outcome, limit: 20 });
      println(io.stdout, '');
      println(io.stdout, `  ${outcome} (${count}${count > shown.length ? `, first ${shown.length} shown` : ''}):`);
      for (const r of shown) println(io.stdout, `    ${recordLabel(r)}  ${r.reason ?? ''}  ${r.detail ?? ''}`.trimEnd());
    }
    return 0;
  } finally {
    await res.close();
  }
}
