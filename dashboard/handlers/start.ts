import { batchStatus } from '../../src/ledger/batch-status.ts';
import { errorMessage } from '../../src/errors.ts';
import type { Batch, BatchSpec, Ledger } from '../../src/ledger/ledger.ts';
import { enqueueRecords, openBatch } from '../../src/pipeline/producer.ts';
import { applyOnly, describeScope, isScoped, type BatchScope } from '../../src/config/scope.ts';
import { defaultSources, type CheckedSource } from '../../src/config/sources.ts';
import { checkSources } from '../../src/db/check-sources.ts';
import { listWorkers } from '../../src/pipeline/worker-registry.ts';
import type { DashboardDeps } from '../deps.ts';
import { HttpError, HttpStatus, ok, type Handler } from '../http.ts';

/**
 * "Start a batch" from the summary page: a dry run, a stage batch or a migration, optionally scoped
 * (limit, sources, primary-key range). The page asks for the plan first — what would run, about how
 * many records, the last dry run's figures — then starts it. The dashboard only enqueues: the
 * workers do the work, so it refuses when none is connected that could take the batch, and the
 * enqueueing (recording a big library in the ledger takes a while) runs in the background while the
 * page shows the batch's total grow.
 */

const KINDS = ['dry_run', 'stage', 'migrate'] as const;
type StartKind = (typeof KINDS)[number];

interface StartRequest {
  kind: StartKind;
  scope: BatchScope;
}

/** The enqueueing of a batch this dashboard started, while it runs and after. */
export interface EnqueueTask {
  batch: number;
  state: 'enqueuing' | 'done' | 'failed';
  error: string | null;
  startedAt: string;
}

function text(v: unknown, name: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' && typeof v !== 'number') throw new HttpError(HttpStatus.badRequest, `${name}: expected text`);
  return String(v).trim() || undefined;
}

/** Reads the kind and scope from a query (GET /api/plan) or a JSON body (POST /api/batches). */
function startRequest(input: Record<string, unknown>): StartRequest {
  const kind = input.kind as StartKind;
  if (!KINDS.includes(kind)) throw new HttpError(HttpStatus.badRequest, `kind: expected one of ${KINDS.join(', ')}`);
  const scope: BatchScope = {};
  const limit = text(input.limit, 'limit');
  if (limit !== undefined) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n <= 0) throw new HttpError(HttpStatus.badRequest, 'limit: expected a positive integer');
    scope.limit = n;
  }
  const only = Array.isArray(input.only) ? input.only.map(String) : text(input.only, 'only')?.split(',');
  if (only && only.length > 0) scope.only = [...new Set(only.map((s) => s.trim()).filter(Boolean))];
  const pkFrom = text(input.pkFrom ?? input.pk_from, 'pkFrom');
  const pkTo = text(input.pkTo ?? input.pk_to, 'pkTo');
  if (pkFrom !== undefined) scope.pkFrom = pkFrom;
  if (pkTo !== undefined) scope.pkTo = pkTo;
  if (scope.only?.length === 0) delete scope.only;
  return { kind, scope };
}

export function startHandlers(deps: DashboardDeps) {
  const { ledger } = deps;
  const tasks = new Map<number, EnqueueTask>();

  /** The sources and settings a new batch takes: the newest batch's, else the seed app's models. */
  const baseline = async (): Promise<{ sources: CheckedSource[]; prefix: string; tag: string; store: BatchSpec['store'] }> => {
    // A batch `--only` scoped holds only some sources: the newest that holds them all says which they are.
    const recent = await ledger.batches.list(50);
    const whole = recent.find((b) => !b.scope.only) ?? recent.find((b) => b.claimSources);
    const latest = recent[0];
    if (latest) return { sources: whole ? (whole.claimSources ?? whole.sources) : latest.sources, prefix: latest.prefix, tag: latest.tag, store: latest.store };
    const storage = deps.storage ?? { prefix: 'media/', tag: 'media', appLabel: 'shop' };
    try {
      return { sources: await checkSources(deps.db, defaultSources(storage.appLabel)), prefix: storage.prefix, tag: storage.tag, store: 'public_id' };
    } catch (err) {
      throw new HttpError(HttpStatus.conflict, `no batch yet, and the default sources cannot be used (${errorMessage(err)}): start the first one with media-migrate migrate --sources FILE`);
    }
  };

  const specOf = async (r: StartRequest): Promise<BatchSpec> => {
    const base = await baseline();
    let sources: CheckedSource[];
    try {
      sources = applyOnly(base.sources, r.scope.only);
    } catch (err) {
      throw new HttpError(HttpStatus.badRequest, errorMessage(err));
    }
    const kind = r.kind === 'stage' ? 'stage' : 'migrate';
    // A scoped stage batch looks through every source for values claiming its in-place ids.
    const claimSources = kind === 'stage' && isScoped(r.scope) ? base.sources : undefined;
    return { kind, dryRun: r.kind === 'dry_run', sources, scope: r.scope, prefix: base.prefix, tag: base.tag, store: base.store, ...(claimSources ? { claimSources } : {}) };
  };

  /** Whether a worker is connected that could take the batch's jobs (not refusing, not paused). */
  const takers = async (): Promise<{ count: number; note: string | null }> => {
    const processes = await listWorkers(deps.redis, deps.prefix).catch(() => []);
    const working = processes.filter((w) => w.state === 'working').length;
    const bull = await deps.queue.getWorkersCount().catch(() => 0);
    if (working > 0 || (processes.length === 0 && bull > 0)) return { count: Math.max(working, bull), note: null };
    if (processes.length > 0) return { count: 0, note: `the connected workers refuse or paused: ${processes.map((w) => w.detail).filter(Boolean)[0] ?? ''}` };
    return { count: 0, note: 'no worker is connected' };
  };

  /** GET /api/plan?kind=dry_run|stage|migrate[&limit=N][&only=a,b][&pk_from=A][&pk_to=B] — what Start would run. */
  const plan: Handler = async (req) => {
    const r = startRequest(req.query);
    const spec = await specOf(r);
    const records = await estimate(deps, spec);
    const dry = await lastDryRun(ledger, spec);
    const w = await takers();
    return ok({
      kind: r.kind,
      sources: spec.sources.map((s) => `${s.table}.${s.column}`),
      allSources: (await baseline()).sources.map((s) => `${s.table}.${s.column}`),
      scope: r.scope,
      scopeText: describeScope(r.scope),
      records,
      lastDryRun: dry,
      workers: w.count,
      canStart: w.count > 0,
      refusal: w.count > 0 ? null : `${w.note}: start one with \`media-migrate worker\` first (the dashboard only enqueues)`,
    });
  };

  /** POST /api/batches {kind, limit?, only?, pkFrom?, pkTo?} — starts (or resumes) the batch; its enqueueing runs on. */
  const start: Handler = async (req) => {
    const r = startRequest((req.body ?? {}) as Record<string, unknown>);
    const w = await takers();
    if (w.count === 0) throw new HttpError(HttpStatus.conflict, `Not started: ${w.note}. Start one with \`media-migrate worker\` first; the dashboard only enqueues.`);
    const spec = await specOf(r);
    const { batch, resumed } = await openBatch(ledger, spec);
    const task: EnqueueTask = { batch: batch.id, state: 'enqueuing', error: null, startedAt: new Date().toISOString() };
    tasks.set(batch.id, task);
    void enqueueRecords({ db: deps.db, ledger, queue: deps.queue, redis: deps.redis, logger: deps.logger, window: deps.window, mediaRoot: deps.mediaRoot }, batch, resumed)
      .then((added) => {
        task.state = 'done';
        deps.logger.info({ batch: batch.id, enqueued: added }, 'dashboard: batch enqueued');
      })
      .catch((err: unknown) => {
        task.state = 'failed';
        task.error = errorMessage(err);
        deps.logger.error({ batch: batch.id, error: task.error }, 'dashboard: enqueueing failed');
      });
    deps.logger.info({ batch: batch.id, kind: r.kind, scope: r.scope, resumed }, 'dashboard: batch started');
    const what = r.kind === 'dry_run' ? 'dry run' : r.kind === 'stage' ? 'stage' : 'migration';
    return ok(
      {
        batch: batch.id,
        kind: r.kind,
        resumed,
        scope: r.scope,
        workers: w.count,
        message: `${resumed ? 'Resumed' : 'Started'} ${what} batch ${batch.id} (${describeScope(r.scope)}); it is being enqueued in the background for ${w.count} worker${w.count === 1 ? '' : 's'}.`,
      },
      HttpStatus.created,
    );
  };

  /** GET /api/batches/:id/enqueue — how the background enqueueing of a batch started here is going. */
  const progress: Handler = async (req) => {
    const id = Number(req.params.id);
    const task = tasks.get(id);
    const batch = await ledger.batches.get(id);
    if (!batch) throw new HttpError(HttpStatus.notFound, `no batch ${req.params.id}`);
    const status = await batchStatus(ledger, batch);
    return ok({ batch: id, state: task?.state ?? (batch.enqueuedAt ? 'done' : 'enqueuing'), error: task?.error ?? null, recorded: status.total });
  };

  return { plan, start, progress, tasks };
}

/** About how many records the batch would have: each source's rows within the scope, capped by the limit. */
async function estimate(deps: DashboardDeps, spec: BatchSpec): Promise<number> {
  let total = 0;
  for (const s of spec.sources) {
    const q = deps.db(s.table).count({ n: '*' });
    if (spec.scope?.pkFrom !== undefined) q.where(s.pk, '>=', spec.scope.pkFrom);
    if (spec.scope?.pkTo !== undefined) q.where(s.pk, '<=', spec.scope.pkTo);
    total += Number(((await q.first()) as { n?: unknown } | undefined)?.n ?? 0);
  }
  return spec.scope?.limit !== undefined ? Math.min(total, spec.scope.limit) : total;
}

/** The figures of the newest dry run of the same sources and scope (else the newest dry run), to read before a real run. */
async function lastDryRun(ledger: Ledger, spec: BatchSpec) {
  const same = (b: Batch) => JSON.stringify(b.sources) === JSON.stringify(spec.sources) && JSON.stringify(b.scope) === JSON.stringify(spec.scope ?? {});
  const runs = (await ledger.batches.list(50)).filter((b) => b.dryRun && !b.rolledBackAt);
  const dry = runs.find(same) ?? runs[0];
  if (!dry) return null;
  const s = await batchStatus(ledger, dry);
  return { batch: s.batch, createdAt: s.createdAt, state: s.state, scopeText: s.scopeText, wouldMigrate: s.migrated, missing: s.missing, skipped: s.skipped, failed: s.failed, pending: s.pending };
}
