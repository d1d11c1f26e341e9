import { processRss, type World } from './world.ts';

/**
 * Watches memory while something runs: every `everyMs`, the resident set of each named process (and
 * its kernel-kept peak, VmHWM, so a spike between two samples still counts) and the private Redis's
 * `used_memory`. Redis is measured above what it used when the watch began (its baseline).
 */
export class MemoryWatch {
  private readonly procs = new Map<string, number>();
  private readonly peaks = new Map<string, number>();
  private readonly last = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  baseline = 0;
  redisPeak = 0;
  redisLast = 0;
  samples = 0;

  constructor(
    private readonly world: World,
    private readonly everyMs = 100,
  ) {}

  /** Follows a process under a label from now on (its peak so far counts). */
  watch(label: string, pid: number): void {
    this.procs.set(label, pid);
  }

  async start(): Promise<void> {
    this.baseline = await this.world.redis.usedMemory();
    this.redisPeak = this.baseline;
    this.redisLast = this.baseline;
    await this.sample();
    this.timer = setInterval(() => {
      this.sampling ??= this.sample().finally(() => (this.sampling = undefined));
    }, this.everyMs);
  }

  async sample(): Promise<void> {
    for (const [label, pid] of this.procs) {
      const r = await processRss(pid);
      if (!r) continue;
      this.last.set(label, r.rss);
      this.peaks.set(label, Math.max(this.peaks.get(label) ?? 0, r.peak, r.rss));
    }
    const used = await this.world.redis.usedMemory();
    if (Number.isFinite(used)) {
      this.redisLast = used;
      this.redisPeak = Math.max(this.redisPeak, used);
      this.samples++;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.sampling;
    await this.sample();
  }

  /** Highest resident set the process reached while watched (bytes). */
  peak(label: string): number {
    return this.peaks.get(label) ?? NaN;
  }

  /** Its resident set at the last sample (bytes). */
  rss(label: string): number {
    return this.last.get(label) ?? NaN;
  }

  /** Redis's highest `used_memory` above the baseline (bytes). */
  redisPeakAbove(): number {
    return this.redisPeak - this.baseline;
  }
}
