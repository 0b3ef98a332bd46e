// Benches that run `loalang server` as a process put their simulated speakers straight into its
// SQLite file (one secret hashed once: argon2 for each would take minutes), and read the
// process's memory and CPU from /proc.
import { openSqlite } from '../../protocol/dist/index.js';
import { readFileSync, rmSync } from 'node:fs';
import { hashSecret } from '../../broker/dist/index.js';

/** Registers `n` devices `<prefix>-0…` in `areaId`, all with one secret; returns them as `{ id, secret }`. */
export async function seedDevices(dbFile, n, prefix, areaId) {
  const secret = 'bench-device-secret-0123456789';
  const secretHash = await hashSecret(secret);
  const devices = Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, secret }));
  const db = openSqlite(dbFile);
  db.pragma('busy_timeout = 10000');
  const insert = db.prepare('INSERT INTO devices (id, name, area_id, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (const d of devices) insert.run(d.id, `Loa ${d.id}`, areaId, secretHash, new Date().toISOString());
  })();
  db.close();
  return devices;
}

/** Resident memory of a process, in bytes. */
export const rssOf = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

/** utime + stime of a process, in ms (clock ticks of 10 ms on Linux). */
export function cpuOf(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Returns `cleanUp`: kills `children` still running and removes `dir`; also run on an uncaught exception (then exit 1). */
export function cleanUpOnCrash(children, dir) {
  const cleanUp = () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('uncaughtException', (err) => {
    console.error(err);
    cleanUp();
    process.exit(1);
  });
  return cleanUp;
}
