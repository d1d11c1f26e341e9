import cliProgress from 'cli-progress';
import type { Writable } from 'node:stream';
import type { Logger } from '../logger.ts';
import { thousands, type Counts } from '../outcomes.ts';

export interface Progress {
  /**
   * `waiting`: what the run waits for while nothing finishes (a lock, a retry, a rate limit), with how
   * long. `recording`: the batch is still being recorded, so its total is not known yet.
   */
  update(c: Counts, waiting?: string, recording?: boolean): void;
  stop(): void;
}

/**
 * A bar on a terminal; elsewhere (CI, a log file) a structured line every few seconds. While the run
 * waits on something, both say for what, instead of sitting silently at 299/300.
 */
export function createProgress(opts: { isTTY: boolean; stream: Writable; logger: Logger; everyMs?: number }): Progress {
  const started = Date.now();
  if (opts.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: opts.stream as NodeJS.WritableStream,
        format:
          '{bar} {percentage}% | {value}/{total} | migrated {migrated} · missing {missing} · skipped {skipped} · failed {failed} | {rate}/s{waiting}',
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    let started_ = false;
    return {
      update(c, waiting, recording) {
        if (recording && !started_) {
          // No bar, percentage or total while the total is still growing: how far recording got.
          opts.stream.write(`\r${recordingLine(c)}${waiting ? ` | waiting for ${waiting}` : ''}\x1b[K`);
          return;
        }
        const done = c.total - c.pending;
        const rate = (done / Math.max((Date.now() - started) / 1000, 0.001)).toFixed(1);
        const payload = { ...c, rate, waiting: waiting ? ` | waiting for ${waiting}` : '' };
        if (!started_) {
          bar.start(Math.max(c.total, 1), done, payload);
          started_ = true;
        } else {
          bar.setTotal(Math.max(c.total, 1));
          bar.update(done, payload);
        }
      },
      stop() {
        if (started_) bar.stop();
      },
    };
  }
  const every = opts.everyMs ?? 5_000;
  let last = 0;
  return {
    update(c, waiting, recording) {
      const now = Date.now();
      if (now - last < every) return;
      last = now;
      if (recording) {
        opts.logger.info({ ...c, recording: true, ...(waiting ? { waiting } : {}) }, `${recordingLine(c)}${waiting ? ` · waiting for ${waiting}` : ''}`);
        return;
      }
      const done = c.total - c.pending;
      const pct = c.total ? Math.floor((done / c.total) * 100) : 0;
      opts.logger.info({ ...c, ...(waiting ? { waiting } : {}) }, `progress ${done}/${c.total} (${pct}%)${waiting ? ` · waiting for ${waiting}` : ''}`);
    },
    stop() {},
  };
}

/** `recording: 120,000 records so far · 3,100 done`: the batch's records are still being recorded. */
function recordingLine(c: Counts): string {
  return `recording: ${thousands(c.total)} records so far · ${thousands(c.total - c.pending)} done`;
}
