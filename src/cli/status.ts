import { batchStatus, stateText, type BatchStatus } from '../ledger/batch-status.ts';
import { ExitError } from '../errors.ts';
import type { Batch, Ledger } from '../ledger/ledger.ts';
import { recordLabel } from '../records/record-steps.ts';
import { Outcome, countKey } from '../outcomes.ts';
import { openDatabase } from '../pipeline/services.ts';
import { println, type CommandIO } from './io.ts';
import { setup } from './setup.ts';

export interface StatusOptions {
  batch?: number | undefined;
  json?: boolean | undefined;
}

export async function resolveBatch(ledger: Ledger, id: number | undefined): Promise<Batch> {
  const batch = id === undefined ? await ledger.batches.latest() : await ledger.batches.get(id);
  if (!batch) throw new ExitError(2, id === undefined ? 'no batch yet: run media-migrate migrate first' : `--batch ${id}: no such batch`);
  return batch;
}

const pad = (s: string | number, n: number) => String(s).padStart(n);

function render(s: BatchStatus): string[] {
  const stage = s.kind === 'stage';
  const head = `Batch ${s.batch} · ${stage ? 'stage · ' : ''}${stateText(s)}${s.dryRun ? ' · dry run' : ''}${stage ? '' : ` · store ${s.store}`}${s.stageBatch !== null ? ` · rewrites stage batch ${s.stageBatch}` : ''} · started ${s.createdAt}`;
  const figures = stage
    ? `  staged ${s.staged}   not in place ${s.notInPlace}   missing ${s.missing}   skipped ${s.skipped}   failed ${s.failed}   pending ${s.pending}   (total ${s.total})`
    : `  migrated ${s.migrated}   missing ${s.missing}   skipped ${s.skipped}   failed ${s.failed}   pending ${s.pending}   (total ${s.total})`;
  const lines = [head, figures];
  if (s.scope) lines.push(`  scope: ${s.scopeText}`);
  if (s.haltedReason) lines.push(`  halted: ${s.haltedReason}`);
  if (s.sources.length > 0) {
    // A source that is not image files says what it holds: `(raw)`, `(video)`, `(text)`.
    const label = (x: BatchStatus['sources'][number]) => `${x.table}.${x.column}${x.media !== 'image' ? ` (${x.media})` : ''}`;
    const w = Math.max(6, ...s.sources.map((x) => label(x).length));
    const done = (x: BatchStatus['sources'][number]) => (stage ? [pad(x.staged, 9), pad(x.notInPlace, 13)] : [pad(x.migrated, 9)]);
    lines.push(
      '',
      `  ${'source'.padEnd(w)} ${pad('total', 7)} ${(stage ? [pad('staged', 9), pad('not in place', 13)] : [pad('migrated', 9)]).join(' ')} ${pad('missing', 8)} ${pad('skipped', 8)} ${pad('failed', 7)} ${pad('pending', 8)}`,
    );
    for (const x of s.sources) {
      lines.push(`  ${label(x).padEnd(w)} ${pad(x.total, 7)} ${done(x).join(' ')} ${pad(x.missing, 8)} ${pad(x.skipped, 8)} ${pad(x.failed, 7)} ${pad(x.pending, 8)}`);
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
    for (const outcome of [Outcome.failed, Outcome.notInPlace, Outcome.missing] as const) {
      const count = s[countKey(outcome)!];
      if (count === 0) continue;
      const shown = await ledger.records.list(batch.id, { outcome, limit: 20 });
      println(io.stdout, '');
      println(io.stdout, `  ${outcome} (${count}${count > shown.length ? `, first ${shown.length} shown` : ''}):`);
      for (const r of shown) {
        const value = outcome === Outcome.notInPlace ? `  ${JSON.stringify(r.oldValue ?? '')}` : '';
        println(io.stdout, `    ${recordLabel(r)}${value}  ${r.reason ?? ''}  ${r.detail ?? ''}`.trimEnd());
      }
    }
    return 0;
  } finally {
    await res.close();
  }
}
