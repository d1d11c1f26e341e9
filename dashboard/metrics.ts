import { Counter as PromCounter, Gauge, Registry, type Metric } from 'prom-client';
import { Counter, readCounters } from '../src/pipeline/counters.ts';
import type { Batch, LatencyBuckets } from '../src/ledger/ledger.ts';
import { Outcome, countKey } from '../src/outcomes.ts';
import type { DashboardDeps } from './deps.ts';

/**
 * `GET /metrics` in Prometheus' text format, gathered at scrape time from where each figure lives:
 * record counts and upload times from the ledger (so they survive Redis trimming its jobs), retries
 * and rate-limit pauses from the workers' counters in Redis, queue depth from BullMQ.
 *
 * Record figures cover the newest batches (METRIC_BATCHES), each labelled `batch`: a new batch is a
 * new series, so a rate never mixes two batches, and old batches drop out instead of piling up.
 * Each app has its own Registry, never prom-client's global one.
 */

export const METRIC_BATCHES = 5;
/** Upload-time histogram bounds, in seconds. */
export const LATENCY_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

const COUNTERS: { name: string; help: string; counter: Counter }[] = [
  { name: 'media_migrate_retries_total', help: 'Upload attempts that failed and were retried (all workers).', counter: Counter.retried },
  { name: 'media_migrate_rate_limit_pauses_total', help: "Times Cloudinary's rate limit (420/429) paused the queue.", counter: Counter.rateLimited },
  { name: 'media_migrate_database_waits_total', help: 'Jobs that waited for an unreachable database.', counter: Counter.databaseWaits },
  { name: 'media_migrate_halts_total', help: 'Batches halted because Cloudinary refused the credentials.', counter: Counter.halted },
];

type HistogramValue = { labels: Record<string, string | number>; value: number; metricName: string };

/**
 * A histogram whose buckets are counted by the database (one grouped query) rather than observed
 * one by one in this process: prom-client's Histogram can only observe, so this renders the same
 * `_bucket` / `_sum` / `_count` lines itself.
 */
class LedgerHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private values: HistogramValue[] = [];
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  set(batches: readonly Batch[], latency: Map<number, LatencyBuckets>): void {
    this.values = [];
    for (const b of batches) {
      const l = latency.get(b.id) ?? { cumulative: LATENCY_BUCKETS_S.map(() => 0), count: 0, sumMs: 0 };
      const labels = { batch: b.id };
      LATENCY_BUCKETS_S.forEach((le, i) => this.values.push({ labels: { le, ...labels }, value: l.cumulative[i] ?? 0, metricName: `${this.name}_bucket` }));
      this.values.push({ labels: { le: '+Inf', ...labels }, value: l.count, metricName: `${this.name}_bucket` });
      this.values.push({ labels, value: l.sumMs / 1000, metricName: `${this.name}_sum` });
      this.values.push({ labels, value: l.count, metricName: `${this.name}_count` });
    }
  }

  async get() {
    return { name: this.name, help: this.help, type: this.type, values: this.values, aggregator: this.aggregator };
  }

  reset(): void {
    this.values = [];
  }
}

export interface DashboardMetrics {
  registry: Registry;
  contentType: string;
  /** Gathers every figure, then renders them; concurrent scrapes share one gathering. */
  render(): Promise<string>;
}

export function createMetrics(deps: DashboardDeps): DashboardMetrics {
  const registry = new Registry();
  const records = new Gauge({
    name: 'media_migrate_records',
    help: 'Records of the newest batches by outcome and source (from the ledger).',
    labelNames: ['batch', 'dry_run', 'table', 'column', 'outcome'] as const,
    registers: [registry],
  });
  const latestBatch = new Gauge({ name: 'media_migrate_latest_batch', help: 'Id of the newest batch.', registers: [registry] });
  // Which batches stage and which rewrite (and what): join on `batch` with media_migrate_records.
  const batchInfo = new Gauge({
    name: 'media_migrate_batch_info',
    help: 'One series per batch shown in media_migrate_records: its kind (stage or migrate) and the stage batch a migrate batch rewrites.',
    labelNames: ['batch', 'kind', 'stage_batch'] as const,
    registers: [registry],
  });
  const latency = new LedgerHistogram(
    'media_migrate_upload_duration_seconds',
    'Time each migrated record took to upload, from the ledger (upload_ms).',
  );
  registry.registerMetric(latency as unknown as Metric);
  const counters = COUNTERS.map((c) => ({ ...c, metric: new PromCounter({ name: c.name, help: c.help, registers: [registry] }) }));
  const queueJobs = new Gauge({
    name: 'media_migrate_queue_jobs',
    help: 'Jobs in the BullMQ queue by state.',
    labelNames: ['state'] as const,
    registers: [registry],
  });
  const workers = new Gauge({ name: 'media_migrate_workers', help: 'Workers connected to the queue.', registers: [registry] });

  const gather = async (): Promise<string> => {
    const batches = await deps.ledger.batches.list(METRIC_BATCHES);
    const [bySource, uploads, redisCounters, jobCounts, workerCount] = await Promise.all([
      Promise.all(batches.map((b) => deps.ledger.counts.bySource(b.id))),
      deps.ledger.counts.uploadLatency(
        batches.map((b) => b.id),
        LATENCY_BUCKETS_S.map((s) => s * 1000),
      ),
      readCounters(deps.redis, deps.prefix),
      deps.queue.getJobCounts(),
      deps.queue.getWorkersCount().catch(() => null),
    ]);

    records.reset();
    batchInfo.reset();
    for (const b of batches) batchInfo.set({ batch: b.id, kind: b.kind, stage_batch: b.stageBatchId === undefined ? '' : String(b.stageBatchId) }, 1);
    batches.forEach((b, i) => {
      for (const s of bySource[i] ?? []) {
        for (const outcome of Object.values(Outcome)) {
          records.set({ batch: b.id, dry_run: String(b.dryRun), table: s.table, column: s.column, outcome }, s[countKey(outcome) ?? 'total']);
        }
      }
    });
    latestBatch.reset();
    if (batches[0]) latestBatch.set(batches[0].id);
    latency.set(batches, uploads);
    for (const c of counters) {
      c.metric.reset();
      c.metric.inc(redisCounters[c.counter]);
    }
    queueJobs.reset();
    for (const [state, n] of Object.entries(jobCounts)) queueJobs.set({ state }, n);
    workers.reset();
    if (workerCount !== null) workers.set(workerCount);
    return registry.metrics();
  };

  let running: Promise<string> | undefined;
  return {
    registry,
    contentType: registry.contentType,
    render() {
      running ??= gather().finally(() => {
        running = undefined;
      });
      return running;
    },
  };
}
