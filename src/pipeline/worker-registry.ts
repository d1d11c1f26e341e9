import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { machineId, processGone } from './machine.ts';

/**
 * Each process working the queue says, in Redis, who it is and whether it is working, refusing a
 * batch (it cannot see the media) or paused (it found nothing while others found their files), so the
 * dashboard can show it. Entries are refreshed every few seconds; one not refreshed for a while is a
 * process that died and is left out.
 *
 * The entry also says which machine the process runs on and which BullMQ worker it is (the first part
 * of its job locks), beside a heartbeat key that expires unless renewed: so a process can tell a job
 * whose holder is known dead — on its own machine, the process id is gone; elsewhere, the heartbeat
 * lapsed — and take it over at once instead of waiting out BullMQ's lock (takeover.ts).
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
  /** Its machine and PID namespace (machine.ts): where its `pid` can be looked up. */
  machine?: string;
  /** Its BullMQ worker's id: the lock of every job it holds starts with it. */
  worker?: string;
}

const HEARTBEAT_MS = 2_000;
/** A process whose heartbeat key is this old is taken for dead (five beats missed; BullMQ's lock is 30 s). */
export const HEARTBEAT_LAPSE_MS = 10_000;
const STALE_MS = 20_000;
/** Entries of dead processes are kept this long, so their jobs can still be told theirs. */
const FORGET_MS = 10 * 60_000;

export const workersKey = (prefix: string) => `${prefix}:media-migrate:workers`;
export const aliveKey = (prefix: string, id: string) => `${prefix}:media-migrate:alive:${id}`;
const foundKey = (prefix: string, batchId: number) => `${prefix}:media-migrate:found:${batchId}`;

export interface WorkerRegistration {
  id: string;
  set(state: WorkerStateName, detail?: string, batches?: Record<string, BatchVerdict>): void;
  /** The BullMQ worker this process takes jobs with (its lock tokens start with this id). */
  holds(bullWorkerId: string): void;
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
  let bullWorker: string | undefined;
  const machine = machineId();
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
      ...(machine ? { machine } : {}),
      ...(bullWorker ? { worker: bullWorker } : {}),
    };
    // The heartbeat key expires by Redis's clock: no two machines' clocks are compared.
    const m = redis.multi().hset(workersKey(prefix), id, JSON.stringify(entry)).set(aliveKey(prefix, id), '1', 'PX', HEARTBEAT_LAPSE_MS);
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
    holds(bullWorkerId) {
      bullWorker = bullWorkerId;
      tick();
    },
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
      await redis.multi().hdel(workersKey(prefix), id).del(aliveKey(prefix, id)).exec().catch(() => {});
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
    const age = now - Date.parse(w.seenAt);
    if (age > STALE_MS) {
      // A dead process's entry stays a while: the jobs it held are told its by it (takeover.ts).
      if (age > FORGET_MS) await redis.hdel(workersKey(prefix), id).catch(() => {});
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

/** A registered process known to be dead, and how that is known. */
export interface DeadProcess {
  state: WorkerState & { worker: string };
  why: string;
}

/**
 * The registered processes known to be dead: on this machine (same machine id), one whose process
 * id is gone; on another, one whose heartbeat lapsed. A process that may still be alive — its process
 * id exists here (however late its heartbeat: a blocked event loop, a lost Redis connection), or its
 * heartbeat is fresh — is never among them.
 */
export async function deadProcesses(redis: Redis, prefix: string, known?: readonly (WorkerState & { worker: string })[]): Promise<DeadProcess[]> {
  const entries = known ?? (await holders(redis, prefix));
  if (entries.length === 0) return [];
  const beats = await redis.multi(entries.map((w) => ['exists', aliveKey(prefix, w.id)])).exec();
  const here = machineId();
  const dead: DeadProcess[] = [];
  entries.forEach((w, i) => {
    const beating = Number(beats?.[i]?.[1] ?? 1) === 1;
    if (here !== undefined && w.machine === here) {
      if (processGone(w.pid)) dead.push({ state: w, why: `process ${w.pid} is gone` });
    } else if (!beating) dead.push({ state: w, why: `no heartbeat for ${HEARTBEAT_LAPSE_MS / 1000} s` });
  });
  return dead;
}

/** Forgets a dead process: its entry and heartbeat. */
export async function forgetProcess(redis: Redis, prefix: string, id: string): Promise<void> {
  await redis.multi().hdel(workersKey(prefix), id).del(aliveKey(prefix, id)).exec();
}

/** Every registered process that says which BullMQ worker it is, dead ones included (until forgotten). */
export async function holders(redis: Redis, prefix: string): Promise<(WorkerState & { worker: string })[]> {
  const all = await redis.hgetall(workersKey(prefix));
  const entries: (WorkerState & { worker: string })[] = [];
  for (const raw of Object.values(all)) {
    try {
      const w = JSON.parse(raw) as WorkerState;
      if (w.worker) entries.push(w as WorkerState & { worker: string });
    } catch {
      // Not ours to judge.
    }
  }
  return entries;
}
