import { ExitError } from '../errors.ts';
import { describeScope, isScoped, type ScopeOptions } from '../config/scope.ts';
import { enqueueBatch } from '../pipeline/producer.ts';
import { openDatabase, openQueue } from '../pipeline/services.ts';
import { println, type CommandIO } from './io.ts';
import { batchToRun } from './resume.ts';
import { setup } from './setup.ts';

export interface EnqueueCommandOptions extends ScopeOptions {
  from?: string | undefined;
  sources?: string | undefined;
  store?: string | undefined;
  dryRun?: boolean | undefined;
  /** A stage batch: the workers place files at their in-place ids and write no row. */
  stage?: boolean | undefined;
  batch?: number | undefined;
  json?: boolean | undefined;
  /** Record a new batch even when none of its first files is under MEDIA_ROOT (a library that lost them). */
  allowMissing?: boolean | undefined;
}

/** `media-migrate enqueue`: the producer half of `migrate`, for workers on other processes or machines. */
export async function enqueueCommand(opts: EnqueueCommandOptions, io: CommandIO): Promise<number> {
  // With MEDIA_ROOT here, the batch records a fingerprint of it that every worker checks.
  const { config, logger, res } = setup(io, io.env.MEDIA_ROOT?.trim() ? ['database', 'redis', 'mediaRoot'] : ['database', 'redis']);
  try {
    const { db, ledger, name } = await openDatabase(config.database, res, logger);
    if (opts.stage && opts.dryRun) throw new ExitError(2, '--stage: a stage batch writes no row already; drop --dry-run');
    // A batch asked for by id is resumed as it was recorded (its sources, scope and settings).
    const mediaRoot = 'mediaRoot' in config ? (config.mediaRoot as string) : undefined;
    const spec = await batchToRun({ db, ledger }, config, mediaRoot, opts, 'enqueue', opts.stage ? 'stage' : 'migrate');
    const { queue, connection } = await openQueue(config.redis, config.upload, res, logger, name);
    const window = { size: config.redis.window, inFlightMs: config.upload.lockDurationMs };
    const r = await enqueueBatch({ db, ledger, queue, redis: connection, logger, window, mediaRoot }, spec, { batchId: opts.batch });
    const counts = await ledger.counts.total(r.batch.id);
    if (opts.json) {
      println(
        io.stdout,
        JSON.stringify({ batch: r.batch.id, kind: r.batch.kind, resumed: r.resumed, enqueued: r.enqueued, ...counts, scope: isScoped(r.batch.scope) ? r.batch.scope : null }),
      );
    } else {
      println(
        io.stdout,
        `${r.resumed ? 'Resumed' : 'Created'} ${r.batch.kind === 'stage' ? 'stage ' : ''}batch ${r.batch.id}: ${r.enqueued} jobs enqueued, ${counts.pending} of ${counts.total} records pending. Start workers with: media-migrate worker`,
      );
      if (isScoped(r.batch.scope)) println(io.stdout, `Batch ${r.batch.id} covers ${describeScope(r.batch.scope)}.`);
    }
    return 0;
  } finally {
    await res.close();
  }
}
