/** A throwaway Redis server per test file (issue 17); the code is shared with the benchmarks in redis-server.mjs. */
export { redisSkipReason, startRedis, type RedisServer } from './redis-server.mjs';
