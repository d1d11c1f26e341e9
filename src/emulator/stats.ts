import type { EmulatorStats } from './types.ts';

function empty(): EmulatorStats {
  return {
    uploadRequests: 0,
    created: 0,
    existing: 0,
    overwritten: 0,
    destroyed: 0,
    adminCalls: 0,
    tagCalls: 0,
    rejected: {},
    injected: { errors: 0, rateLimited: 0, hangs: 0 },
    createdByPublicId: {},
  };
}

/** Counters a test or benchmark reads to prove what the client actually did to the cloud. */
export class StatsRecorder {
  private s = empty();

  get counters(): EmulatorStats {
    return this.s;
  }

  reject(status: number): void {
    const key = String(status);
    this.s.rejected[key] = (this.s.rejected[key] ?? 0) + 1;
  }

  created(publicId: string): void {
    this.s.created += 1;
    this.s.createdByPublicId[publicId] = (this.s.createdByPublicId[publicId] ?? 0) + 1;
  }

  /** A deep copy, so callers can diff two snapshots. */
  snapshot(): EmulatorStats {
    return structuredClone(this.s);
  }

  reset(): void {
    this.s = empty();
  }
}
