/**
 * The agent's side of a rollout (issue 20). An offer: the bundle is downloaded (resumable, as
 * audio), its hash checked, unpacked next to the running version and checked (unpack.ts); then,
 * at a gap — no alert, live announcement or play now, none due soon — the trial is recorded,
 * `current` switched, and the agent exits for the service manager to start the new version.
 * Started as a release on trial, the agent checks its health until the deadline: healthy, it
 * confirms; not, it says why and stops, and the guard puts the old version back. Each step is
 * reported on `update/status`; an outcome decided while offline (a roll-back at start) is
 * reported once connected.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compareVersions, type Clock, type ClockTimer, type Logger, type ServerKey, type UpdateOffer, type UpdateStatus } from '@loalang/protocol';
import type { Downloader } from '../link/downloader.js';
import { sha256Of } from '../link/downloader.js';
import type { BoxLayout } from './box-layout.js';
import type { InstallFailpoint } from './failpoint.js';
import { beginTrial, confirmTrial, failTrial, markReported } from './trial.js';
import { unpackRelease } from './unpack.js';

export interface UpdaterDeps {
  /** Null on a box not installed as releases (run from a checkout): offers are refused, saying so. */
  layout: BoxLayout | null;
  pinned: readonly ServerKey[];
  /** The version running now, and this box's facts. */
  running: string;
  arch: string;
  nodeAbi: string;
  downloader: Pick<Downloader, 'toFile'>;
  send: (status: UpdateStatus) => Promise<void>;
  /** Whether nothing plays now and nothing is due within `ms` (no alert, live or scheduled play). */
  quietFor: (ms: number) => boolean;
  /** Null when healthy, else what is wrong (health-check.ts). */
  health: () => Promise<string | null>;
  /** Ends the process with this code (the service manager starts it again). */
  exit: (code: number) => void;
  clock: Clock;
  logger: Logger;
  /** The fault tests' kill at a step (failpoint.ts); none on a box. */
  failpoint?: InstallFailpoint;
}

/**
 * An install waits for this long without plays: the restart takes seconds (stop, the service's
 * RestartSec of 3 s, the guard, Node's start) and the new version plays from the stored
 * programme before it even connects.
 */
export const INSTALL_QUIET_MS = 30_000;
const QUIET_POLL_MS = 5_000;
const HEALTH_POLL_MS = 3_000;
const DOWNLOAD_TRIES = 5;

type Offer = Extract<UpdateOffer, { type: 'offer' }>;

export class Updater {
  private job: { rolloutId: string; withdrawn: boolean } | null = null;
  private readonly unsent: UpdateStatus[] = [];
  private timer: ClockTimer | null = null;
  private stopped = false;

  constructor(private readonly d: UpdaterDeps) {}

  onMessage(m: UpdateOffer): void {
    if (m.type === 'withdraw') {
      if (this.job?.rolloutId === m.rolloutId) {
        this.job.withdrawn = true;
        this.d.logger.info({ rolloutId: m.rolloutId }, 'update withdrawn by the server');
      }
      return;
    }
    if (this.job) return; // the same offer again (sent on reconnect), or another while one runs
    this.job = { rolloutId: m.rolloutId, withdrawn: false };
    void this.install(m)
      .catch((err: unknown) => {
        this.d.logger.error({ err, rolloutId: m.rolloutId }, 'update failed');
        this.report(m, 'failed', (err as Error).message);
      })
      .finally(() => {
        this.job = null;
      });
  }

  private report(m: { rolloutId: string | null; version: string }, state: UpdateStatus['state'], reason?: string): void {
    const status: UpdateStatus = { v: 1, rolloutId: m.rolloutId, version: m.version, state, running: this.d.running, at: new Date(this.d.clock.now()).toISOString(), ...(reason ? { reason: reason.slice(0, 500) } : {}) };
    this.d.send(status).catch(() => this.unsent.push(status));
  }

  private async install(m: Offer): Promise<void> {
    const { layout } = this.d;
    if (!layout || this.d.pinned.length === 0) {
      return this.report(m, 'refused', 'this box is not set up for updates (installRoot and releaseKeys in its config; the install script sets both)');
    }
    if (m.version === this.d.running) {
      // On trial (the offer again after a restart into it): its start confirms or rolls back, and says so.
      if (layout.readState().trial?.version === m.version) return;
      return this.report(m, 'confirmed', 'already running this version');
    }
    if (compareVersions(m.version, this.d.running) <= 0) return this.report(m, 'refused', `downgrade: release ${m.version}, box runs ${this.d.running}`);
    if (m.arch !== this.d.arch) return this.report(m, 'refused', `wrong-arch: bundle for ${m.arch}, box is ${this.d.arch}`);
    const downloads = join(layout.root, 'downloads');
    mkdirSync(downloads, { recursive: true });
    const part = join(downloads, `${m.sha256}.part`);
    this.report(m, 'downloading');
    for (let attempt = 1; ; attempt++) {
      try {
        await this.d.downloader.toFile(m.url, part, `release ${m.version}`);
        break;
      } catch (err) {
        if (attempt >= DOWNLOAD_TRIES || this.job?.withdrawn) throw new Error(`download: ${(err as Error).message}`);
        await this.sleep(2000 * 2 ** attempt);
      }
    }
    if ((await sha256Of(part)) !== m.sha256) {
      rmSync(part, { force: true });
      throw new Error('download: the bundle does not have the sha256 the server gave');
    }
    this.d.failpoint?.('downloaded');
    const unpacked = await unpackRelease(part, layout.releasesDir, { pinned: this.d.pinned, arch: this.d.arch, nodeAbi: this.d.nodeAbi, version: this.d.running });
    rmSync(part, { force: true });
    if (!unpacked.ok) return this.report(m, 'refused', `${unpacked.refusal}: ${unpacked.detail}`);
    this.d.failpoint?.('unpacked');
    this.report(m, 'verified');
    let said = false;
    while (!this.d.quietFor(INSTALL_QUIET_MS)) {
      if (this.job?.withdrawn || this.stopped) return;
      if (!said) this.report(m, 'waiting', 'an alert, a live announcement or a play is on or due: installing at the next gap');
      said = true;
      await this.sleep(QUIET_POLL_MS);
    }
    if (this.job?.withdrawn || this.stopped) return;
    beginTrial(layout, { version: m.version, from: this.d.running, deadline: this.d.clock.now() + m.confirmWithinMs, rolloutId: m.rolloutId });
    this.d.failpoint?.('switched');
    this.d.logger.info({ version: m.version, from: this.d.running }, 'update installed: restarting into it');
    await this.d
      .send({ v: 1, rolloutId: m.rolloutId, version: m.version, state: 'installed', running: this.d.running, at: new Date(this.d.clock.now()).toISOString() })
      .catch(() => undefined);
    this.d.exit(0);
  }

  /**
   * At start: a release on trial checks its health until its deadline, then confirms or stops.
   * Resolves once decided (the caller carries on either way; a failure exits).
   */
  async onStart(): Promise<void> {
    const { layout } = this.d;
    if (!layout) return;
    const trial = layout.readState().trial;
    if (!trial || trial.version !== this.d.running) return;
    this.d.logger.info({ version: trial.version, deadline: new Date(trial.deadline).toISOString() }, 'new version on trial: checking its health');
    let problem: string | null = 'not checked';
    while (!this.stopped && this.d.clock.now() < trial.deadline) {
      problem = await this.d.health();
      if (!problem) {
        this.d.failpoint?.('before-confirm');
        const outcome = confirmTrial(layout, this.d.clock.now());
        this.d.logger.info({ version: trial.version }, 'new version healthy: confirmed');
        if (outcome) this.reportOutcome();
        return;
      }
      await this.sleep(Math.min(HEALTH_POLL_MS, Math.max(0, trial.deadline - this.d.clock.now())));
    }
    if (this.stopped) return;
    failTrial(layout, `not healthy in time: ${problem}`);
    this.d.logger.error({ version: trial.version, problem }, 'new version not healthy in time: stopping, the previous version comes back');
    this.d.exit(1);
  }

  /** Connected: statuses that could not be sent, and an outcome decided at start (a roll-back), go now. */
  onConnected(): void {
    for (const s of this.unsent.splice(0)) this.d.send(s).catch(() => this.unsent.push(s));
    this.reportOutcome();
  }

  private reportOutcome(): void {
    const layout = this.d.layout;
    const last = layout?.readState().last;
    if (!layout || !last || last.reported) return;
    const state = last.outcome === 'confirmed' ? 'confirmed' : last.outcome === 'rolled-back' ? 'rolled-back' : 'refused';
    this.d
      .send({ v: 1, rolloutId: last.rolloutId, version: last.version, state, running: this.d.running, at: new Date(last.at).toISOString(), ...(last.reason ? { reason: last.reason.slice(0, 500) } : {}) })
      .then(() => markReported(layout))
      .catch(() => undefined); // sent at the next connection
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.d.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.timer = this.d.clock.setTimeout(() => {
        this.timer = null;
        resolve();
      }, ms);
    });
  }
}
