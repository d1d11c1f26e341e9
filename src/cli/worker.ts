import { once } from 'node:events';
import { startUploader } from '../pipeline/open-uploader.ts';
import { println, type CommandIO } from './io.ts';
import { setup } from './setup.ts';

export interface WorkerOptions {
  concurrency: number;
  /** How long in-flight jobs may run on after SIGTERM/SIGINT before the process gives up on them. */
  shutdownTimeoutMs?: number;
}

/**
 * `media-migrate worker`: takes jobs from the shared queue until SIGTERM/SIGINT, then lets the jobs in
 * flight finish (bounded) and exits 0. Run as many as you like, on as many machines as you like.
 * Exits 2 when Cloudinary refuses the credentials: every job would fail the same way.
 */
export async function workerCommand(opts: WorkerOptions, io: CommandIO): Promise<number> {
  const { config, logger, res } = setup(io, ['database', 'redis', 'mediaRoot', 'cloudinary']);
  try {
    // The credentials check first, then the rest while it travels (see migrate).
    const { uploader } = await startUploader(config.cloudinary, config.upload, res);
    const [{ openPipeline }, { startRecordWorker }] = await Promise.all([import('../pipeline/services.ts'), import('../pipeline/record-worker.ts')]);
    const deps = await openPipeline(config, res, logger, { uploader });
    const halted = new AbortController();
    const w = startRecordWorker({ ...deps, concurrency: opts.concurrency, onHalt: () => halted.abort() });
    res.defer('worker', () => w.close());
    logger.info({ concurrency: opts.concurrency }, 'worker started');
    const stops = [halted.signal, ...(io.signal ? [io.signal] : [])];
    await Promise.race(stops.map((s) => (s.aborted ? Promise.resolve() : once(s, 'abort'))));
    const timeout = opts.shutdownTimeoutMs ?? 30_000;
    logger.info({ timeoutMs: timeout }, 'stopping: letting jobs in flight finish');
    await Promise.race([w.close(), new Promise((r) => setTimeout(r, timeout).unref())]);
    const message = w.halted();
    if (message) {
      println(io.stderr, `media-migrate: ${message}`);
      return 2;
    }
    logger.info('worker stopped');
    return 0;
  } finally {
    await res.close();
  }
}
