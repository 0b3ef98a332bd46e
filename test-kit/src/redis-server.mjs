// A throwaway Redis server (issue 17), in plain JavaScript so that the benchmarks (bench/*.mjs) and
// the tests (through redis.ts) use the same code: Debian's `redis-server` on a private loopback
// port, its files in a temporary folder, nothing saved. Each test file starts its own; `stop` and
// `start` again on the same port let a test take Redis away and bring it back. Types: redis-server.d.mts.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.mjs';

export function redisSkipReason() {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'redis-server is not installed (Debian package redis-server)';
  }
}

function answers(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' }, () => {
      socket.write('PING\r\n');
    });
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * `replicaOf`: the port of a primary this one replicates (Redis with a replica, issue 17).
 * `sentinelOf`: instead of a Redis server, a Sentinel watching the primary on that port under
 * the name `loalang` (quorum 1, down after 1 s), which promotes a replica when it goes.
 */
export async function startRedis({ replicaOf, sentinelOf } = {}) {
  const reason = redisSkipReason();
  if (reason) throw new Error(reason);
  const dir = mkdtempSync(join(tmpdir(), 'loalang-redis-'));
  const port = await freePort();
  let child = null;
  const args = () => {
    if (sentinelOf === undefined) {
      return ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning', ...(replicaOf ? ['--replicaof', '127.0.0.1', String(replicaOf)] : [])];
    }
    // A sentinel rewrites its configuration file: it must be its own, writable, and new at each start.
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(conf, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor loalang 127.0.0.1 ${sentinelOf} 1`, 'sentinel down-after-milliseconds loalang 1000', 'sentinel failover-timeout loalang 5000', 'sentinel parallel-syncs loalang 1', ''].join('\n'));
    return [conf, '--sentinel', '--loglevel', 'warning'];
  };
  const start = async () => {
    const proc = spawn('redis-server', args(), { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d.toString()));
    const deadline = Date.now() + 10_000;
    while (!(await answers(port))) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited: ${stderr.trim()}`);
      if (Date.now() > deadline) throw new Error('redis-server did not answer within 10 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const stop = async () => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null) return;
    await new Promise((resolve) => {
      proc.once('exit', resolve);
      proc.kill('SIGKILL');
    });
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== null && child.exitCode === null;
    },
    start,
    stop,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
