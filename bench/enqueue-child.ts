/**
 * The producer in a process of its own, so its memory is its own: `enqueueBatch` (what
 * `media-migrate enqueue` runs) over the world's source table, with the process's RSS sampled every
 * 50 ms and reported when the count of enqueued jobs crosses each of ENQUEUE_MARKS. Prints one JSON
 * line at the end. Settings come from the same environment variables as the CLI.
 */
import { loadConfig } from '../src/config.ts';
import { createDb } from '../src/db.ts';
import { Ledger } from '../src/ledger.ts';
import { silentLogger } from '../src/logger.ts';
import { enqueueBatch } from '../src/producer.ts';
import { createQueue, redisConnection } from '../src/queue.ts';
import { checkSources, defaultSources } from '../src/sources.ts';

const config = loadConfig(process.env, ['database', 'redis']);
const marks = (process.env.ENQUEUE_MARKS ?? '').split(',').filter(Boolean).map(Number);
const db = createDb(config.database);
const ledger = new Ledger(db);
await ledger.migrate();
const connection = redisConnection(config.redis);
const queue = createQueue(config.redis, connection, config.upload);

let peak = 0;
const sample = () => {
  const rss = process.memoryUsage().rss;
  if (rss > peak) peak = rss;
  return rss;
};
const timer = setInterval(sample, 50);

// Counting what reaches addBulk, to know when each mark is crossed.
const rssAt: Record<string, number> = {};
let added = 0;
const addBulk = queue.addBulk.bind(queue);
queue.addBulk = async (jobs) => {
  const r = await addBulk(jobs);
  added += jobs.length;
  for (const m of marks) if (added >= m && rssAt[m] === undefined) rssAt[m] = sample();
  return r;
};

const spec = {
  sources: await checkSources(db, defaultSources(config.storage.appLabel)),
  store: 'public_id' as const,
  kind: 'migrate' as const,
  dryRun: false,
  prefix: config.storage.prefix,
  tag: config.storage.tag,
};
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const result = await enqueueBatch({ db, ledger, queue, redis: connection, logger: silentLogger }, spec);
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
clearInterval(timer);
sample();
await queue.close();
connection.disconnect();
await db.destroy();
process.stdout.write(
  `${JSON.stringify({ enqueued: result.enqueued, ms, cpuMs: (cpu.user + cpu.system) / 1000, rssAt, peakSampled: peak, maxRss: process.resourceUsage().maxRSS * 1024 })}\n`,
);
