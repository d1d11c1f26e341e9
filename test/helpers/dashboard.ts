import { Redis } from 'ioredis';
import type { DashboardDeps } from '../../dashboard/deps.ts';
import { createQueue, redisConnection } from '../../src/pipeline/queue.ts';
import { TEST_REDIS_URL, type Harness } from './harness.ts';

/** What the dashboard needs, built on a test's own world: a real queue and Redis with its prefix. */
export function dashboardDeps(h: Harness, auth: { user: string; password: string }): { deps: DashboardDeps; close(): Promise<void> } {
  const config = h.config();
  const connection = redisConnection(config.redis);
  const queue = createQueue(config.redis, connection, config.upload);
  const plain = new Redis(TEST_REDIS_URL);
  return {
    deps: {
      db: h.db,
      ledger: h.ledger,
      queue,
      redis: plain,
      prefix: h.prefix,
      delivery: { cloudName: h.emulator.cloudName, origin: h.emulator.url },
      storage: config.storage,
      logger: h.logs.logger,
      auth,
      readOnly: false,
      secrets: config.secrets,
    },
    async close() {
      await queue.close();
      connection.disconnect();
      plain.disconnect();
    },
  };
}
