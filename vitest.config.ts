import { defineConfig } from 'vitest/config';

/** The tests that exercise the migration itself: they run against each supported database. */
const CORE = [
  'test/migrate.test.ts',
  'test/outcomes.test.ts',
  'test/safety.test.ts',
  'test/commands.test.ts',
  'test/reversibility.test.ts',
  'test/bad-input.test.ts',
  'test/django.test.ts',
  'test/cutover.test.ts',
  'test/scope.test.ts',
  'test/find.test.ts',
  'test/media-guard.test.ts',
  'test/from-file.test.ts',
  'test/file-types.test.ts',
  'test/text-sources.test.ts',
  'test/audit.test.ts',
  'test/wrong-settings.test.ts',
  'test/streaming-start.test.ts',
  'test/group-commit.test.ts',
  'test/start-queries.test.ts',
  // The dashboard's own queries (counts, search, start, the cutover lists) run on every database too.
  'test/dashboard-operator.test.ts',
  'test/dashboard-cutover.test.ts',
];

export default defineConfig({
  test: {
    // Every test talks to real PostgreSQL/MariaDB, Redis and an emulator over loopback.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: more forks than that only adds contention to timing-sensitive scenarios.
    maxWorkers: 3,
    projects: [
      { extends: true, test: { name: 'pg', include: ['test/**/*.test.ts'], env: { TEST_DB: 'pg' } } },
      { extends: true, test: { name: 'mysql', include: CORE, env: { TEST_DB: 'mysql' } } },
      { extends: true, test: { name: 'sqlite', include: CORE, env: { TEST_DB: 'sqlite' } } },
    ],
  },
});
