import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Each process working the queue says, in Redis, who it is and whether it is working, refusing a
 * batch (it cannot see the media) or paused (it found nothing while others found their files), so the
 * dashboard can show it. Entries are refreshed every few seconds; one not refreshed for a while is a
 * process that died and is left out.
 */

export type WorkerStateName = 'working' | 'refusing' | 'paused';

/** Why a process will not take one batch's jobs. */
export interface BatchVerdict {
  state: Exclude<WorkerStateName, 'working'>;
  detail: string;
}

export interface WorkerState {
  id: string;
  host: string;
  pid: number;
  concurrency: number;
  state: WorkerStateName;
  /** Why it refuses or paused: the one line it logged. */
  detail: string | null;
  /**
   * The batches it refuses or paused on, each with its line: a process refusing one batch still works
   * the others (its `state` says `working` while it takes any open batch's jobs).
   */
  batches?: Record<string, BatchVerdict>;
  startedAt: string;
  seenAt: string;
}

const HEARTBEAT_MS = 5_000;
const STALE_MS = 20_000;

export const workersKey = (prefix: string) => `${prefix}:media-migrate:workers`;
const foundKey = (prefix: string, batchId: number) => `${prefix}:media-migrate:found:${batchId}`;

export interface WorkerRegistration {
  id: string;
  set(state: WorkerStateName, detail?: string, batches?: Record<string, BatchVerdict>): void;
  /** Counts files this process found for a batch (flushed with the heartbeat). */
  found(batchId: number): void;
  /** Whether another live process has found files of this batch. */
  othersFound(batchId: number): Promise<boolean>;
  close(): Promise<void>;
}

export function registerWorker(redis: Redis, prefix: string, info: { concurrency: number }): WorkerRegistration {
  const id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const startedAt = new Date().toISOString();
  let state: WorkerStateName = 'working';
  let detail: string | null = null;
  let verdicts: Record<string, BatchVerdict> = {};
  const found = new Map<number, number>();
  const announced = new Set<number>();

  const beat = async () => {
    const entry: WorkerState = {
      id,
      host: hostname(),
      pid: process.pid,
      concurrency: info.concurrency,
      state,
      detail,
      ...(Object.keys(verdicts).length > 0 ? { batches: verdicts } : {}),
      startedAt,
      seenAt: new Date().toISOString(),
    };
    const m = redis.multi().hset(workersKey(prefix), id, JSON.stringify(entry));
    for (const [batchId, n] of found) m.hincrby(foundKey(prefix, batchId), id, n).expire(foundKey(prefix, batchId), 86_400);
    found.clear();
    await m.exec();
  };
  const tick = () => void beat().catch(() => {});
  const timer = setInterval(tick, HEARTBEAT_MS);
  timer.unref();
  tick();

  return {
    id,
    set(next, why, batches) {
      state = next;
      detail = why ?? null;
      verdicts = batches ?? {};
      tick();
    },
    found(batchId) {
      const first = !announced.has(batchId);
      found.set(batchId, (found.get(batchId) ?? 0) + 1);
      // The first file found is told at once: another process's missing streak asks about it.
      if (first) {
        announced.add(batchId);
        tick();
      }
    },
    async othersFound(batchId) {
      await beat().catch(() => {});
      const counts = await redis.hgetall(foundKey(prefix, batchId));
      const alive = new Set((await listWorkers(redis, prefix)).map((w) => w.id));
      return Object.entries(counts).some(([who, n]) => who !== id && Number(n) > 0 && alive.has(who));
    },
    async close() {
      clearInterval(timer);
      await redis.hdel(workersKey(prefix), id).catch(() => {});
    },
  };
}

/** The processes working the queue now (those that died are dropped from the list). */
export async function listWorkers(redis: Redis, prefix: string): Promise<WorkerState[]> {
  const all = await redis.hgetall(workersKey(prefix));
  const now = Date.now();
  const live: WorkerState[] = [];
  for (const [id, raw] of Object.entries(all)) {
    let w: WorkerState;
    try {
      w = JSON.parse(raw) as WorkerState;
    } catch {
      continue;
    }
    if (now - Date.parse(w.seenAt) > STALE_MS) {
      await redis.hdel(workersKey(prefix), id).catch(() => {});
      continue;
    }
    live.push(w);
  }
  return live.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

/** How a process stands towards one batch: refusing or paused on it, or working (whatever it does with the others). */
export function stateFor(w: WorkerState, batchId: number): WorkerState {
  if (w.batches === undefined) return w;
  const v = w.batches[String(batchId)];
  return v ? { ...w, state: v.state, detail: v.detail } : { ...w, state: 'working', detail: null };
}
