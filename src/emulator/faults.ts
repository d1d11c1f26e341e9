import type { Faults } from './types.ts';

export const DEFAULT_FAULTS: Readonly<Faults> = Object.freeze({
  latencyMs: 0,
  latencyJitterMs: 0,
  errorRate: 0,
  rateLimitRate: 0,
  rateLimitRetryAfterMs: 1000,
  hangRate: 0,
});

const RATE_KEYS = new Set<keyof Faults>(['errorRate', 'rateLimitRate', 'hangRate']);
const KEYS = Object.keys(DEFAULT_FAULTS) as (keyof Faults)[];

/**
 * Validates untrusted input (the control API takes JSON from other processes), so a typo such as
 * `errorrate` fails loudly instead of silently injecting nothing.
 */
export function mergeFaults(base: Faults, patch: unknown): Faults {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
    throw new TypeError('faults must be an object');
  }
  const next: Faults = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (!KEYS.includes(key as keyof Faults)) {
      throw new TypeError(`unknown fault "${key}" (known: ${KEYS.join(', ')})`);
    }
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new TypeError(`fault "${key}" must be a finite number >= 0`);
    }
    if (RATE_KEYS.has(key as keyof Faults) && value > 1) {
      throw new TypeError(`fault "${key}" is a probability and must be within 0..1`);
    }
    next[key as keyof Faults] = value;
  }
  return next;
}

/** mulberry32: tiny, fast, and good enough to make fault sequences repeatable from a seed. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type InjectedFault = 'error' | 'rateLimit' | 'hang';

export class FaultInjector {
  private current: Faults;
  private readonly random: () => number;

  constructor(initial: Partial<Faults> = {}, seed?: number) {
    this.current = mergeFaults({ ...DEFAULT_FAULTS }, initial);
    this.random = seed === undefined ? Math.random : seededRandom(seed);
  }

  get(): Faults {
    return { ...this.current };
  }

  set(patch: Partial<Faults>): Faults {
    this.current = mergeFaults(this.current, patch);
    return this.get();
  }

  /**
   * One draw split into bands, so configured rates are exact marginal probabilities
   * (10% errors + 5% rate limits really gives 10% and 5%). Past a total of 1 the bands are
   * filled in order error, rate limit, hang.
   */
  draw(): InjectedFault | undefined {
    const { errorRate, rateLimitRate, hangRate } = this.current;
    if (errorRate + rateLimitRate + hangRate <= 0) return undefined;
    const r = this.random();
    if (r < errorRate) return 'error';
    if (r < errorRate + rateLimitRate) return 'rateLimit';
    if (r < errorRate + rateLimitRate + hangRate) return 'hang';
    return undefined;
  }

  latency(): number {
    const { latencyMs, latencyJitterMs } = this.current;
    return latencyJitterMs > 0 ? latencyMs + this.random() * latencyJitterMs : latencyMs;
  }

  retryAfterMs(): number {
    return this.current.rateLimitRetryAfterMs;
  }
}
