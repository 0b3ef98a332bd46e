/**
 * What systemd does for deploy/loalang-agent.service, for tests of fleet updates (issue 20) on a
 * machine without it running the service: the ExecStartPre command, then the main command;
 * started again `restartMs` after any exit (Restart=always); Type=notify with a watchdog — a
 * datagram socket (socat) the service's `systemd-notify` writes READY=1 and WATCHDOG=1 to, and
 * SIGABRT (then SIGKILL) when no WATCHDOG=1 came for `watchdogMs`, as systemd does.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SupervisorOptions {
  /** ExecStartPre: run to its end before each start; its failure does not stop the start (the guard never fails). */
  pre?: { command: string; args: string[] };
  main: { command: string; args: string[] };
  env?: NodeJS.ProcessEnv;
  restartMs?: number;
  /** WatchdogSec; 0: none. Counted from READY=1, as systemd does for Type=notify. */
  watchdogMs?: number;
  /** TimeoutStartSec: no READY=1 this long after the start, and the service is killed (default 90 s). */
  startTimeoutMs?: number;
  /** Where the service's output goes, line by line (a log file, the test's console). */
  onOutput?: (line: string) => void;
}

export type SupervisorEvents = {
  started: [pid: number];
  ready: [pid: number];
  exited: [code: number | null, signal: NodeJS.Signals | null];
  'watchdog-timeout': [pid: number];
  pre: [output: string];
};

export class ServiceSupervisor extends EventEmitter<SupervisorEvents> {
  private child: ChildProcess | null = null;
  private stopping = false;
  private readonly dir = mkdtempSync(join(tmpdir(), 'loalang-supervisor-'));
  private readonly socketPath = join(this.dir, 'notify');
  private notifier: ChildProcess | null = null;
  private lastFed = 0;
  private readyPid: number | null = null;
  private watchdogTimer: NodeJS.Timeout | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  /** Starts of the main command so far. */
  starts = 0;
  /** Watchdog kills so far. */
  watchdogKills = 0;

  constructor(private readonly o: SupervisorOptions) {
    super();
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  async start(): Promise<void> {
    if (this.o.watchdogMs) await this.listen();
    this.launch();
  }

  /** The notify socket: socat prints each datagram; a line holding READY=1 or WATCHDOG=1 counts. */
  private async listen(): Promise<void> {
    this.notifier = spawn('socat', ['-u', `UNIX-RECV:${this.socketPath}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.notifier.stdout!.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      if (text.includes('WATCHDOG=1')) this.lastFed = Date.now();
      if (text.includes('READY=1') && this.child?.pid) {
        this.lastFed = Date.now();
        this.readyPid = this.child.pid;
        this.emit('ready', this.child.pid);
      }
    });
    for (let i = 0; i < 100; i++) {
      if (spawnSync('test', ['-S', this.socketPath]).status === 0) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('the notify socket did not appear (is socat installed?)');
  }

  private launch(): void {
    if (this.stopping) return;
    const env = { ...process.env, ...this.o.env, ...(this.o.watchdogMs ? { NOTIFY_SOCKET: this.socketPath, WATCHDOG_USEC: String(this.o.watchdogMs * 1000) } : {}) };
    if (this.o.pre) {
      const pre = spawnSync(this.o.pre.command, this.o.pre.args, { env, encoding: 'utf8' });
      this.emit('pre', `${pre.stdout ?? ''}${pre.stderr ?? ''}`);
      for (const line of `${pre.stdout ?? ''}${pre.stderr ?? ''}`.split('\n').filter(Boolean)) this.o.onOutput?.(`[pre] ${line}`);
    }
    const child = spawn(this.o.main.command, this.o.main.args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.starts++;
    this.lastFed = Date.now();
    const launchedAt = Date.now();
    for (const stream of [child.stdout!, child.stderr!]) {
      let rest = '';
      stream.on('data', (chunk: Buffer) => {
        const lines = (rest + chunk.toString()).split('\n');
        rest = lines.pop()!;
        for (const line of lines) this.o.onOutput?.(line);
      });
    }
    this.emit('started', child.pid!);
    if (this.o.watchdogMs) {
      this.watchdogTimer = setInterval(() => {
        const ready = this.readyPid === child.pid;
        if (ready ? Date.now() - this.lastFed <= this.o.watchdogMs! : Date.now() - launchedAt <= (this.o.startTimeoutMs ?? 90_000)) return;
        this.watchdogKills++;
        this.emit('watchdog-timeout', child.pid!);
        child.kill('SIGABRT');
        setTimeout(() => child.kill('SIGKILL'), 2000).unref();
        if (this.watchdogTimer) clearInterval(this.watchdogTimer);
      }, 200);
    }
    child.once('exit', (code, signal) => {
      if (this.watchdogTimer) clearInterval(this.watchdogTimer);
      this.watchdogTimer = null;
      this.child = null;
      this.emit('exited', code, signal);
      if (!this.stopping) this.restartTimer = setTimeout(() => this.launch(), this.o.restartMs ?? 1000);
    });
  }

  /** Kills the service as a power cut would (SIGKILL); the supervisor starts it again. */
  kill(): void {
    this.child?.kill('SIGKILL');
  }

  /** Stops it for good (SIGTERM, then SIGKILL after `graceMs`). */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (child) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const hard = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(hard);
    }
    this.notifier?.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
