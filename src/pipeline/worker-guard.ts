import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import type { Batch, Ledger, RecordRef } from '../ledger/ledger.ts';
import { MISSING_STREAK, MissingStreak, firstUnseen, refusalMessage } from './media-guard.ts';
import { Outcome, Reason } from '../outcomes.ts';
import { restartWindow, type WindowDeps } from './queue-window.ts';
import type { BatchVerdict, WorkerRegistration } from './worker-registry.ts';

/**
 * What keeps one process from marking a library it cannot see as missing. Before its first job of a
 * batch it checks the batch's MEDIA_ROOT fingerprint (and again every little while, so mounting the
 * volume is enough to resume); a batch it cannot see is refused, its jobs handed back for others.
 * And whatever the fingerprint said, once its last records of a batch in a row were all missing while
 * another live process found files of the same batch, it pauses itself on that batch and hands those
 * records back.
 *
 * Each verdict is one batch's: a process refusing an old batch still takes a new one's jobs (a
 * process-wide pause stalled the new batch at 0% behind the old). Only when it refuses or paused on
 * every open batch does it stop taking jobs at all, until a batch it may take appears.
 */
export interface WorkerGuard {
  /** Why this process will not take the batch's jobs (it cannot see its media, or paused on it), or undefined. */
  refusal(batch: Batch): Promise<string | undefined>;
  /** The verdict already reached on a batch, without looking at the disk again. */
  verdict(batchId: number): string | undefined;
  /** Notes an outcome; may pause the process on the batch (see above). */
  after(batch: Batch, ref: RecordRef, outcome: string, reason: string): Promise<void>;
  /** The open batches as the refiller last listed them: verdicts on the others are forgotten. */
  observe(open: readonly Batch[]): void;
  close(): void;
}

export interface WorkerGuardDeps {
  mediaRoot: string;
  ledger: Ledger;
  logger: Logger;
  registry: WorkerRegistration;
  window: WindowDeps;
  /** Stops this process taking jobs (without waiting for those in flight). */
  pause(): void;
  resume(): void;
  recheckMs?: number;
}

const RECHECK_MS = 15_000;

/** Outcomes that prove this process can read the batch's files. */
const SAW_A_FILE = new Set<string>([Outcome.migrated, Outcome.staged, Outcome.notInPlace, Outcome.failed]);
/** Reasons of those outcomes that do not: the value named no file to read. */
const NO_FILE_READ = new Set<string>([Reason.unsafePath]);

export function createWorkerGuard(deps: WorkerGuardDeps): WorkerGuard {
  const checked = new Map<number, { at: number; refusal: string | undefined }>();
  const pausedOn = new Map<number, string>();
  const streaks = new Map<number, { streak: MissingStreak; refs: Map<number, RecordRef>; asking: boolean }>();
  let open = new Set<number>();
  let holding = false;

  const verdict = (batchId: number) => pausedOn.get(batchId) ?? checked.get(batchId)?.refusal;

  const publish = () => {
    const batches = new Set([...open, ...checked.keys(), ...pausedOn.keys()]);
    const verdicts: Record<string, BatchVerdict> = {};
    for (const id of batches) {
      const paused = pausedOn.get(id);
      const refused = checked.get(id)?.refusal;
      if (paused) verdicts[id] = { state: 'paused', detail: paused };
      else if (refused) verdicts[id] = { state: 'refusing', detail: refused };
    }
    const free = batches.size === 0 || [...batches].some((id) => verdict(id) === undefined);
    if (free) {
      if (holding) deps.resume();
      holding = false;
      deps.registry.set('working', undefined, verdicts);
      return;
    }
    if (!holding) deps.pause();
    holding = true;
    const first = Object.values(verdicts).find((v) => v.state === 'paused') ?? Object.values(verdicts)[0]!;
    deps.registry.set(first.state, first.detail, verdicts);
  };

  const check = async (batch: Batch): Promise<string | undefined> => {
    const unseen = await firstUnseen(deps.mediaRoot, batch.fingerprint);
    const refusal = unseen ? refusalMessage(deps.mediaRoot, batch.id, unseen, batch.fingerprint?.from) : undefined;
    const before = checked.get(batch.id)?.refusal;
    checked.set(batch.id, { at: Date.now(), refusal });
    if (refusal && refusal !== before) deps.logger.error({ batch: batch.id, setting: 'MEDIA_ROOT', file: unseen!.path }, refusal);
    if (!refusal && before) deps.logger.info({ batch: batch.id }, 'MEDIA_ROOT now shows the batch\'s files: taking its jobs again');
    publish();
    return refusal;
  };

  // A refused batch is looked at again now and then: mounting the volume is enough to resume.
  const timer = setInterval(() => {
    for (const [batchId, c] of checked) {
      if (!c.refusal) continue;
      void deps.ledger
        .batches.get(batchId)
        .then(async (b) => {
          if (b && !b.rolledBackAt) return void (await check(b));
          checked.delete(batchId);
          publish();
        })
        .catch((err: unknown) => deps.logger.warn({ error: errorMessage(err) }, 'could not look at MEDIA_ROOT again'));
    }
  }, deps.recheckMs ?? RECHECK_MS);
  timer.unref();

  const pauseForStreak = async (batch: Batch, refs: RecordRef[]) => {
    const message = `MEDIA_ROOT=${deps.mediaRoot}: the last ${MISSING_STREAK} records this worker took of batch ${batch.id} were all missing while other workers found theirs; it paused itself and handed them back (check the media mount on this machine, then restart this worker)`;
    pausedOn.set(batch.id, message);
    deps.logger.error({ batch: batch.id, setting: 'MEDIA_ROOT' }, message);
    publish();
    const reopened = await deps.ledger.reopen.missing(batch.id, refs);
    await restartWindow(deps.window, batch.id);
    deps.logger.info({ batch: batch.id, reopened }, 'handed the missing records back');
  };

  return {
    async refusal(batch) {
      const paused = pausedOn.get(batch.id);
      if (paused) return paused;
      const c = checked.get(batch.id);
      if (c && (!c.refusal || Date.now() - c.at < (deps.recheckMs ?? RECHECK_MS))) return c.refusal;
      return check(batch);
    },
    verdict,
    async after(batch, ref, outcome, reason) {
      if (pausedOn.has(batch.id)) {
        // The jobs that were in flight when it paused: what they found missing goes back too.
        if (outcome === Outcome.missing && (await deps.ledger.reopen.missing(batch.id, [ref])) > 0) await restartWindow(deps.window, batch.id);
        return;
      }
      let s = streaks.get(batch.id);
      if (!s) {
        s = { streak: new MissingStreak(), refs: new Map(), asking: false };
        streaks.set(batch.id, s);
      }
      if (outcome === Outcome.missing) {
        const key = s.refs.size;
        s.refs.set(key, ref);
        if (!s.streak.note(key, true) || s.asking) return;
        // Records that end while we ask are kept in the same list: they go back too if we pause.
        s.asking = true;
        const others = await deps.registry.othersFound(batch.id).finally(() => (s!.asking = false));
        if (others && !pausedOn.has(batch.id)) {
          const refs = [...s.refs.values()];
          s.refs.clear();
          await pauseForStreak(batch, refs);
        } else if (!others) {
          // Nobody finds these files: they may well be missing. Count afresh.
          s.refs.clear();
          s.streak = new MissingStreak();
        }
        return;
      }
      if (SAW_A_FILE.has(outcome) && !NO_FILE_READ.has(reason)) {
        s.streak.note(0, false);
        s.refs.clear();
        deps.registry.found(batch.id);
      }
    },
    observe(batches) {
      const now = new Set(batches.map((b) => b.id));
      const changed = now.size !== open.size || [...now].some((id) => !open.has(id));
      open = now;
      // A batch no longer open (finished, rolled back, halted) holds nobody back.
      for (const id of [...checked.keys()]) if (!now.has(id)) checked.delete(id);
      for (const id of [...pausedOn.keys()]) if (!now.has(id)) pausedOn.delete(id);
      if (changed) publish();
    },
    close() {
      clearInterval(timer);
    },
  };
}
