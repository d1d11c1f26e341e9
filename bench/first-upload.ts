import { setTimeout as sleep } from 'node:timers/promises';
import { spawnCli, type World } from './world.ts';

/**
 * Issue 19: how long `migrate` takes from its start to its first upload request, at a library's size.
 * The emulator counts upload requests as they arrive; its counter is read every few milliseconds
 * from the command's spawn, and the command is killed once the first one came (its batch is then
 * dropped with the rest of the state). Only the first files need to exist: MEDIA_ROOT is checked
 * on them, and the first uploads are theirs.
 */
const FILES = 2_400;

export async function firstUploadSeconds(world: World, rows: number, runs: number): Promise<number[]> {
  await world.writeImages(0, Math.min(rows, FILES));
  await world.fillRows(rows);
  const emulator = await world.emulator(20);
  const seconds: number[] = [];
  for (let i = 0; i < runs; i++) {
    await world.resetState();
    await emulator.reset();
    const t0 = performance.now();
    const p = spawnCli(['migrate', '--concurrency', '8'], world.env(emulator.cloudinaryUrl));
    try {
      for (;;) {
        if (p.child.exitCode !== null) throw new Error(`bench: migrate exited before any upload:\n${p.output().slice(-2000)}`);
        if ((await emulator.stats()).uploadRequests > 0) break;
        await sleep(5);
      }
      seconds.push((performance.now() - t0) / 1000);
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
  }
  await world.resetState();
  return seconds;
}
