import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Ledger } from '../src/ledger/ledger.ts';
import type { RecordQueue } from '../src/pipeline/queue.ts';

export interface Credentials {
  user: string;
  password: string;
}

/**
 * Everything the dashboard touches, handed in by its caller (the CLI command or a test): no module
 * under dashboard/ reads `process.env` or opens a connection of its own.
 */
export interface DashboardDeps {
  db: Knex;
  ledger: Ledger;
  /** The project's queue (`createQueue`), shown in bull-board and used by the actions. */
  queue: RecordQueue;
  /** A plain connection for the health check and the workers' counters. */
  redis: Redis;
  /** QUEUE_PREFIX: where the workers keep their counters. */
  prefix: string;
  /** PREFIX, MEDIA_TAG and the app label: what a batch started from the page takes when it is the first. */
  storage?: { prefix: string; tag: string; appLabel: string } | undefined;
  /** MEDIA_ROOT when the dashboard's machine has it: a batch it starts records a fingerprint of it. */
  mediaRoot?: string | undefined;
  /** Where assets are delivered (from CLOUDINARY_URL's cloud name, no secret), for links; none when unset. */
  delivery?: { cloudName: string; origin: string } | undefined;
  /** QUEUE_WINDOW and LOCK_DURATION_MS: how the actions hand records to the queue (default 10,000 / 30 s). */
  window?: { size: number; inFlightMs: number };
  logger: Logger;
  /** HTTP basic-auth credentials required on every route. */
  auth: Credentials;
  /** No actions: the action routes answer 403 and bull-board is read-only. */
  readOnly: boolean;
  /** Values that must never leave the server (Cloudinary secret, database password): scrubbed from every answer. */
  secrets: readonly string[];
  /** The anti-CSRF token the page sends back; random per process unless a test fixes it. */
  csrfToken?: string;
}
