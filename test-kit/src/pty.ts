/** A socat pseudo-terminal pair for tests: two linked paths, restartable to simulate unplug/replug. */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

const onPath = (command: string) =>
  (process.env['PATH'] ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });

/**
 * Whether socat is installed (tests on a pty pair skip without it: `apt-get install socat`).
 * Looked up on PATH without a child process, and silently: every test that imports the kit reads it.
 */
export const hasSocat = onPath('socat');

export class PtyPair {
  readonly a: string;
  readonly b: string;
  private proc: ChildProcess | null = null;

  constructor() {
    const dir = mkdtempSync(join(tmpdir(), 'loalang-pty-'));
    this.a = join(dir, 'ttyA');
    this.b = join(dir, 'ttyB');
  }

  async start(): Promise<void> {
    this.proc = spawn('socat', [`pty,raw,echo=0,link=${this.a}`, `pty,raw,echo=0,link=${this.b}`], { stdio: 'ignore' });
    const end = Date.now() + 5000;
    while (!(existsSync(this.a) && existsSync(this.b))) {
      if (Date.now() > end) throw new Error('socat did not create the pty pair');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Kills socat: both ends vanish, as when a USB adapter is pulled. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    await gone;
    const end = Date.now() + 2000;
    while ((existsSync(this.a) || existsSync(this.b)) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  }
}
