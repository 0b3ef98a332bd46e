import { describe, expect, it } from 'vitest';
import { redisUrlProblem, sentinelTarget } from '../src/cluster/redis-connection.js';

describe('the Redis a cluster names in LOALANG_REDIS_URL', () => {
  it('reads the sentinels, the primary\'s name and the password of a redis-sentinel:// URL', () => {
    expect(sentinelTarget('redis-sentinel://10.0.0.1:26379,10.0.0.2:26380,[::1]:26381/loalang')).toEqual({
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      name: 'loalang',
    });
    expect(sentinelTarget('redis-sentinel://:m%E1%BA%ADt%40kh%E1%BA%A9u@sentinel.tinh.gov.vn/primary')).toEqual({ sentinels: [{ host: 'sentinel.tinh.gov.vn', port: 26379 }], name: 'primary', password: 'mật@khẩu' });
    expect(sentinelTarget('redis://127.0.0.1:6379')).toBeNull();
  });

  it('says what is wrong with an address it cannot use, and accepts the three forms', () => {
    for (const good of ['redis://127.0.0.1:6379', 'rediss://:pw@redis.tinh.gov.vn:6380/2', 'redis-sentinel://a:26379,b:26379/loalang']) expect(redisUrlProblem(good)).toBeNull();
    expect(redisUrlProblem('127.0.0.1:6379')).toMatch(/redis:\/\//);
    expect(redisUrlProblem('redis-sentinel://a:26379')).toMatch(/primary name/);
    expect(redisUrlProblem('redis-sentinel://a:0/loalang')).toMatch(/bad sentinel address a:0/);
  });
});
