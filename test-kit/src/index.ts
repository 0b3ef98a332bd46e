/**
 * Helpers shared by the tests of every package. Tests only: product code never imports this
 * package (tests/import-graph.test.ts fails if it does).
 */
export { until, untilWithin, DEFAULT_INTERVAL_MS, DEFAULT_TIMEOUT_MS, type Falsy, type PollOptions } from './poll.js';
export { hasSocat, PtyPair } from './pty.js';
export { FakeAmplifier } from './amplifier.js';
export { startStreamServer, type StreamServer } from './stream.js';
export { readEvents } from './sse.js';
export { addUser, buildTestServer, login, multipartBody, PASSWORD, type TestServer } from './server.js';
export { ManualClock } from './clock.js';
export { createDatabase, postgresBinDir, postgresSkipReason, startPostgres, type PostgresCluster } from './postgres.js';
export { databases, e2eDialect, freshPostgres, postgresUrl, serverDatabase, type TestDialect } from './databases.js';
export { redisSkipReason, startRedis, type RedisServer } from './redis.js';
export { PROFILES as LINK_PROFILES, startLink, type Link, type LinkProfile, type LinkStep } from './link-emulator.mjs';
export { SkippingClock } from './skipping-clock.js';
export { ServiceSupervisor, type SupervisorOptions } from './service-supervisor.js';
