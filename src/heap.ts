import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** The young generation a busy command settles at: V8's two semi-spaces, 2 MB each. */
export const YOUNG_GENERATION_BYTES = 4 * 2 ** 20;

/**
 * Keeps a command's memory near what it holds, for the small machines and containers this runs on.
 * Left to itself V8 grows the young generation to 32 MB as soon as many objects survive a
 * collection (32 jobs in flight do that) and lets the old one grow to a few times what is live before
 * it collects: a worker holding ~25 MB peaked at 160-190 MB. These two flags are read each time the
 * heap decides to grow, so unlike --max-semi-space-size they work when set from inside the process,
 * with no wrapper script and no NODE_OPTIONS to forget. The old generation grows by 30% of what is
 * live (50% let `migrate` beside a worker peak at 122-124 MB on a 300,000-record batch; 108 at 30%).
 *
 * The young generation starts at V8's 1 MB and, once the command has run for `settleMs`, may double
 * up to YOUNG_GENERATION_BYTES, where it stops. Held at 1 MB, `migrate` scavenged every ~5 images
 * (~810 scavenges, 0.75 s of pauses for 3,000 images); at 4 MB ~440 and ~0.5 s, at 8 MB ~190 and
 * 0.35 s, but 8 MB put `migrate` and a worker at 124 and 120 MB through a million records (106-108
 * at 1 MB): 4 MB costs ~2 MB (issue 19, BENCHMARKS.md). V8 doubles it only once the bytes that
 * survived since the last doubling exceed its size, and the cap is applied from a GC observer, which
 * runs between tasks: the start's bursts of long-lived objects (loading the code, in one task) could
 * double it twice before the observer sees the first, hence the wait before it may grow at all.
 */
export function keepHeapSmall({ settleMs = 1_000 }: { settleMs?: number } = {}): void {
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--heap-growing-percent=30');
  const observer = new PerformanceObserver(() => {
    const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? YOUNG_GENERATION_BYTES;
    if (young < YOUNG_GENERATION_BYTES) return;
    setFlagsFromString('--semi-space-growth-factor=1');
    observer.disconnect();
  });
  // unref: a command that is done must not wait for its heap's policy.
  setTimeout(() => {
    setFlagsFromString('--semi-space-growth-factor=2');
    observer.observe({ entryTypes: ['gc'] });
  }, settleMs).unref();
}
