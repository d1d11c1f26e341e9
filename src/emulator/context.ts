import type { Logger } from 'pino';
import type { ChunkAssembler } from './chunks.ts';
import type { FaultInjector } from './faults.ts';
import type { HourlyQuota } from './quota.ts';
import type { StatsRecorder } from './stats.ts';
import type { AssetStore } from './store.ts';

/** The state every route handler shares; one per emulator instance. */
export interface EmulatorContext {
  readonly cloudName: string;
  readonly apiKey: string;
  readonly apiSecret: string;
  readonly maxImageBytes: number;
  readonly store: AssetStore;
  readonly stats: StatsRecorder;
  readonly faults: FaultInjector;
  readonly quota: HourlyQuota;
  readonly chunks: ChunkAssembler;
  readonly log: Logger | undefined;
  /** The emulator's own origin, used when a request carries no Host header. */
  origin: string;
}
