import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Every test talks to real PostgreSQL, Redis and an emulator over loopback.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: more forks than that only adds contention to timing-sensitive scenarios.
    maxWorkers: 3,
  },
});
