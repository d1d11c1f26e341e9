import { cloudinaryDateTime } from './clock.ts';
import { ApiError } from './reply.ts';

const HOUR_MS = 3_600_000;

/**
 * The Admin API's hourly allowance. Cloudinary resets it on the clock hour (not an hour after
 * the first call) and reports it on every answer in X-FeatureRateLimit-* headers.
 */
export class HourlyQuota {
  private windowStart = 0;
  private used = 0;

  constructor(readonly limit: number) {}

  private roll(now: number): void {
    const start = Math.floor(now / HOUR_MS) * HOUR_MS;
    if (start !== this.windowStart) {
      this.windowStart = start;
      this.used = 0;
    }
  }

  headers(now = Date.now()): Record<string, string> {
    this.roll(now);
    return {
      'X-FeatureRateLimit-Limit': String(this.limit),
      'X-FeatureRateLimit-Remaining': String(Math.max(0, this.limit - this.used)),
      'X-FeatureRateLimit-Reset': new Date(this.windowStart + HOUR_MS).toUTCString(),
    };
  }

  /** Counts one call, or throws the 420 Cloudinary answers once the hour's allowance is spent. */
  take(now = Date.now()): Record<string, string> {
    this.roll(now);
    if (this.used >= this.limit) {
      const reset = new Date(this.windowStart + HOUR_MS);
      throw new ApiError(420, `Rate Limit Exceeded. Try again on ${cloudinaryDateTime(reset)} UTC`, this.headers(now));
    }
    this.used += 1;
    return this.headers(now);
  }

  reset(): void {
    this.used = 0;
  }
}
