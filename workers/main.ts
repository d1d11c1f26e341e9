/**
 * The worker process on its own (`node --import tsx workers/main.ts`), for process managers and
 * containers; `media-migrate worker` runs the same code.
 */
import { main } from '../src/cli/main.ts';

process.exitCode = await main(['node', 'media-migrate', 'worker', ...process.argv.slice(2)]);
