import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';
import { postgresSkipReason } from './test-kit/src/postgres.js';

const src = (pkg: string) => fileURLToPath(new URL(`./${pkg}/src/index.ts`, import.meta.url));

/**
 * Files that measure real time (a play's start against its instant, speakers in step, audio
 * actually played, clock offsets, benchmarks' figures): they run last, one at a time, on an
 * otherwise idle machine, as the whole suite used to. Everything else runs two files at a time
 * first. A file that asserts a real-time figure belongs here (under load it would flake).
 */
const TIMED = [
  'tests/programme.e2e.test.ts',
  'tests/alerts.e2e.test.ts',
  'tests/broadcast.e2e.test.ts',
  'tests/offline.e2e.test.ts',
  'tests/postgres-outage.e2e.test.ts',
  'tests/presence.e2e.test.ts',
  // Three server nodes and six agents: alone, so a loaded machine does not make a play late.
  'tests/cluster.e2e.test.ts',
  'tests/cluster-haproxy.e2e.test.ts',
  'tests/commands.e2e.test.ts',
  'tests/bench-smoke.test.ts',
  // Two agents in step behind emulated 4G links: skew and mouth-to-horn latency are measured.
  'tests/live.e2e.test.ts',
  'tests/web/live.e2e.test.ts',
  // A programme through steps of the agent's clock: plays' starts against their instants.
  'tests/clock-step.e2e.test.ts',
  // A programme through a flapping 4G link: plays' starts against their instants.
  'tests/link-flap.e2e.test.ts',
  // The agent as a service: its watchdog is fed on a real timer, and a frozen one killed.
  'tests/agent-service.e2e.test.ts',
  // Twenty agents updated while a programme plays on them: every pass must play.
  'tests/fleet-update.e2e.test.ts',
  'tests/update-faults.e2e.test.ts',
  'edge-agent/test/stream-relay.test.ts',
  'edge-agent/test/player.test.ts',
  'edge-agent/test/live-playout.test.ts',
  'edge-agent/test/agent.test.ts',
  'console/test/alarms.test.ts',
];
const ALL = ['*/src/**/*.test.ts', '*/test/**/*.test.ts', 'tests/**/*.test.ts'];
const NEVER = ['**/node_modules/**', '**/dist/**'];

/**
 * Issue 16: the suites that store anything run a second time on PostgreSQL (project 'postgres',
 * `LOALANG_TEST_DATABASE=postgres`: every server under test gets a fresh database of the run's
 * cluster). The repository suites run on both dialects in one pass (describe.each). Where
 * PostgreSQL is not installed these projects are left out, and the run says so.
 */
const ON_POSTGRES = ['console/test/**/*.test.ts', 'tests/security/**/*.test.ts', 'tests/server-device.test.ts', 'tests/live.test.ts', 'tests/alert-resend.test.ts', 'tests/*.e2e.test.ts'];
const NOT_ON_POSTGRES = ['tests/agent-service.e2e.test.ts', 'tests/fleet-update.e2e.test.ts', 'tests/update-faults.e2e.test.ts', 'tests/postgres-outage.e2e.test.ts', 'tests/cluster.e2e.test.ts', 'tests/cluster-haproxy.e2e.test.ts', 'tests/demo.e2e.test.ts', 'tests/cli.e2e.test.ts', 'tests/tls.e2e.test.ts', 'tests/web/**', 'console/test/security-headers.test.ts', 'console/test/validation-text.test.ts'];
const postgresSkip = postgresSkipReason();
if (postgresSkip) console.warn(`The PostgreSQL runs of the suites are skipped: ${postgresSkip}`);
const onPostgres = { LOALANG_TEST_DATABASE: 'postgres' };

export default defineConfig({
  resolve: {
    // Tests run on the TypeScript sources; the end-to-end tests spawn the built CLI.
    alias: {
      '@loalang/protocol': src('protocol'),
      '@loalang/firmware-bridge': src('firmware-bridge'),
      '@loalang/edge-agent': src('edge-agent'),
      '@loalang/broker': src('broker'),
      '@loalang/console': src('console'),
      // Helpers shared by the tests (never imported by product code).
      '@loalang/test-kit': src('test-kit'),
    },
  },
  test: {
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // One throwaway PostgreSQL cluster for the run, where PostgreSQL is installed (issue 16).
    globalSetup: ['test-kit/src/postgres-setup.ts'],
    projects: [
      { extends: true, test: { name: 'parallel', include: ALL, exclude: [...NEVER, ...TIMED], maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'timed', include: TIMED, exclude: NEVER, maxWorkers: 1, sequence: { groupOrder: 1 } } },
      ...(postgresSkip
        ? []
        : [
            { extends: true, test: { name: 'postgres', include: ON_POSTGRES, exclude: [...NEVER, ...NOT_ON_POSTGRES, ...TIMED], env: onPostgres, maxWorkers: 2, sequence: { groupOrder: 2 } } },
            { extends: true, test: { name: 'postgres-timed', include: TIMED.filter((f) => /^tests\/[^/]+\.e2e\.test\.ts$|^console\/test\//.test(f)), exclude: [...NEVER, ...NOT_ON_POSTGRES], env: onPostgres, maxWorkers: 1, sequence: { groupOrder: 3 } } },
          ]),
    ],
  },
});
