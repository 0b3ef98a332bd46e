/**
 * A throwaway PostgreSQL cluster for the tests (issue 16); the code is shared with the
 * benchmarks in postgres-cluster.mjs. One cluster serves a whole test run (vitest's global
 * setup starts it and hands out its URL); each test file makes its own database in it. Where
 * PostgreSQL is not installed, tests that need it skip and say so (`postgresSkipReason`).
 */
export { createDatabase, postgresBinDir, postgresSkipReason, startPostgres, type PostgresCluster } from './postgres-cluster.mjs';
