/**
 * The key of a single server's device-authentication MACs (DeviceRepo), kept in the data folder
 * so that it outlives a restart: after one, every speaker reconnects at once, and with a new key
 * each would be checked with argon2 again (10,000 of them: minutes of CPU, the restart storm of
 * issue 19). A cluster derives its key from the cluster secret instead (ClusterNode).
 *
 * Keeping it beside the database costs nothing against a stolen disk: device secrets are random
 * (190 bits, made by the server), so a MAC that checks a guess quickly still never finds one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const DEVICE_AUTH_KEY_FILE = 'device-auth.key';

/** The key in `<dataDir>/device-auth.key` (64 hex digits), made on first use (mode 0600). */
export async function deviceAuthKeyFile(dataDir: string): Promise<Buffer> {
  const file = join(dataDir, DEVICE_AUTH_KEY_FILE);
  const read = async (): Promise<Buffer | null> => {
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (text === null) return null;
    const key = Buffer.from(text.trim(), 'hex');
    if (key.length !== 32) throw new Error(`${file}: not a device authentication key (64 hex digits); remove it to make a new one (every device is then checked once more with argon2)`);
    return key;
  };
  const existing = await read();
  if (existing) return existing;
  // On PostgreSQL nothing else may have made the folder yet.
  await mkdir(dataDir, { recursive: true });
  // 'wx': of two processes starting together on one folder, one writes it and both read it.
  await writeFile(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  return (await read())!;
}
