/**
 * The worker process on its own (`node dist/workers/main.js`, compiled by `npm run build`), for
 * process managers and containers; `media-migrate worker` runs the same code (src/cli/worker.ts).
 */
import { main } from '../src/cli/main.ts';
import { keepHeapSmall } from '../src/heap.ts';

keepHeapSmall();

process.exitCode = await main(['node', 'media-migrate', 'worker', ...process.argv.slice(2)]);
