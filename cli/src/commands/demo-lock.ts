/**
 * A demo owns its data folder while it runs: a second `loalang demo` in the same folder must not
 * delete the first one's database, content and sink (issue 14). Before touching any data the
 * demo checks its ports and takes `demo.lock` (created exclusively; a lock whose process is
 * gone is taken over), which also says which demo holds it.
 */
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

interface LockInfo {
  pid: number;
  startedAt: string;
  console?: string;
}

export interface DemoLock {
  /** Records the running demo's console address in the lock, for whoever finds it. */
  describe(consoleUrl: string): Promise<void>;
  release(): Promise<void>;
}

const usage = (en: string, vi: string) => Object.assign(new Error(en), { messageVi: vi, code: 'LOA_ERR_DEMO_BUSY' });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLock(path: string): Promise<LockInfo | null> {
  try {
    const info = JSON.parse(await readFile(path, 'utf8')) as Partial<LockInfo>;
    return typeof info.pid === 'number' ? (info as LockInfo) : null;
  } catch {
    return null;
  }
}

/** Takes the data folder's demo lock, or says which demo holds it. */
export async function takeDemoLock(dataDir: string): Promise<DemoLock> {
  const path = join(dataDir, 'demo.lock');
  const info: LockInfo = { pid: process.pid, startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const file = await open(path, 'wx');
      await file.writeFile(JSON.stringify(info));
      await file.close();
      return {
        describe: async (consoleUrl) => writeFile(path, JSON.stringify({ ...info, console: consoleUrl })),
        release: async () => {
          if ((await readLock(path))?.pid === process.pid) await rm(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = await readLock(path);
      if (holder && holder.pid !== process.pid && alive(holder.pid)) {
        const where = holder.console ? `, ${holder.console}` : '';
        throw usage(
          `another demo is running in ${dataDir} (pid ${holder.pid}${where}); stop it first (Ctrl+C) or use another --data folder`,
          `một bản demo khác đang chạy trong ${dataDir} (pid ${holder.pid}${where}); hãy dừng nó trước (Ctrl+C) hoặc dùng thư mục --data khác`,
        );
      }
      // Left by a demo that was killed: take it over.
      await rm(path, { force: true });
    }
  }
  throw usage(`could not lock ${path}`, `không khóa được ${path}`);
}

/** Fails with the usual EADDRINUSE error (which the CLI explains) when a port is taken. Port 0 is always free. */
export async function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(Object.assign(err, { port })));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
