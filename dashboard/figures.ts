import { batchStatus, type BatchStatus } from '../src/ledger/batch-status.ts';
import type { Batch, Ledger } from '../src/ledger/ledger.ts';
import type { RecordQueue } from '../src/pipeline/queue.ts';
import { stateFor, type WorkerState } from '../src/pipeline/worker-registry.ts';
import { HttpError, HttpStatus, intParam } from './http.ts';

/** Minutes of history in the throughput chart. */
export const THROUGHPUT_MINUTES = 15;

export interface Throughput {
  /** Records finished (any outcome) in each of the last minutes, oldest first; the last one ends now. */
  perMinute: number[];
  /** Records per minute over the last minute, counted from the first of them (so a batch just started or resumed is not diluted). */
  ratePerMinute: number;
  /** Seconds until nothing is pending at that rate; null once finished or while nothing moves. */
  etaSeconds: number | null;
}

export interface QueueFigures {
  /** BullMQ job counts by state (waiting, active, delayed, completed, failed, ...). */
  counts: Record<string, number>;
  /** Worker connections on the queue; null when Redis refuses CLIENT LIST. */
  workers: number | null;
  paused: boolean;
  /** Set when Redis did not answer in time: the ledger's figures are shown all the same. */
  unavailable?: string;
}

/** What the summary page polls: the batch's figures, its pace, and the queue behind it. */
export interface Overview {
  status: BatchStatus | null;
  throughput: Throughput | null;
  queue: QueueFigures;
  /** Every process working the queue, and whether it works, refuses a batch or paused itself. */
  processes: WorkerState[];
  /** A batch this dashboard started: its background enqueueing, and why it failed if it did. */
  enqueue: { state: string; error: string | null } | null;
}

/** `latest` or a batch id, as the API's `:id` takes it; 404 when there is no such batch. */
export async function findBatch(ledger: Ledger, id: string | undefined): Promise<Batch> {
  const batch = id === undefined || id === 'latest' ? await ledger.batches.latest() : await ledger.batches.get(intParam('batch', id));
  if (!batch) throw new HttpError(HttpStatus.notFound, id === undefined || id === 'latest' ? 'no batch yet' : `no batch ${id}`);
  return batch;
}

/** The pace of a batch from its records' `finished_at`, measured on the database's clock. */
export async function throughput(ledger: Ledger, batch: Batch, status: BatchStatus): Promise<Throughput> {
  const now = (await ledger.counts.databaseNow()).getTime();
  const edges = Array.from({ length: THROUGHPUT_MINUTES + 1 }, (_, i) => new Date(now - (THROUGHPUT_MINUTES - i) * 60_000));
  const [perMinute, recent] = await Promise.all([
    ledger.counts.finishedPerInterval(batch.id, edges),
    ledger.counts.finishedSince(batch.id, new Date(now - 60_000)),
  ]);
  return { perMinute, ...pace(recent.count, recent.first ? now - recent.first.getTime() : 0, status.pending) };
}

/**
 * Rate and ETA from the records finished in the last minute, over the time since the first of them
 * finished (2 s at least, so one record just done does not read as a flood).
 */
export function pace(lastMinute: number, sinceFirstMs: number, pending: number): Pick<Throughput, 'ratePerMinute' | 'etaSeconds'> {
  const ratePerMinute = lastMinute === 0 ? 0 : Math.round((lastMinute * 60_000) / Math.min(60_000, Math.max(2_000, sinceFirstMs)));
  const etaSeconds = pending > 0 && ratePerMinute > 0 ? Math.ceil((pending / ratePerMinute) * 60) : null;
  return { ratePerMinute, etaSeconds };
}

/** How long the page waits for Redis before showing the ledger's figures without the queue's. */
const QUEUE_TIMEOUT_MS = 3_000;

export async function queueFigures(queue: RecordQueue): Promise<QueueFigures> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<QueueFigures>((resolve) => {
    timer = setTimeout(() => resolve({ counts: {}, workers: null, paused: false, unavailable: 'Redis is not answering' }), QUEUE_TIMEOUT_MS);
  });
  const figures = Promise.all([queue.getJobCounts(), queue.getWorkersCount().catch(() => null), queue.isPaused()]).then(
    ([counts, workers, paused]): QueueFigures => ({ counts, workers, paused }),
    (): QueueFigures => ({ counts: {}, workers: null, paused: false, unavailable: 'Redis is not answering' }),
  );
  try {
    return await Promise.race([figures, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function overview(
  ledger: Ledger,
  queue: RecordQueue,
  id: string | undefined,
  processes: () => Promise<WorkerState[]> = async () => [],
  enqueueOf: (batchId: number) => { state: string; error: string | null } | undefined = () => undefined,
): Promise<Overview> {
  const latest = id === undefined || id === 'latest';
  const [batch, q, p] = await Promise.all([latest ? ledger.batches.latest() : findBatch(ledger, id), queueFigures(queue), processes().catch(() => [])]);
  if (!batch) return { status: null, throughput: null, queue: q, processes: p, enqueue: null };
  const status = await batchStatus(ledger, batch);
  const task = enqueueOf(batch.id);
  // Each process as it stands towards this batch: one refusing an older batch may well work this one.
  const standing = p.map((w) => stateFor(w, batch.id));
  return { status, throughput: await throughput(ledger, batch, status), queue: q, processes: standing, enqueue: task ? { state: task.state, error: task.error } : null };
}
