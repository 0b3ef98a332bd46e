/**
 * Where an agent's releases live on the box (issue 20), and the two pointers that say which runs:
 *
 *   <root>/releases/<version>/app/…   each release, unpacked whole (unpack.ts)
 *   <root>/current   → releases/<v>   what the service starts
 *   <root>/confirmed → releases/<v>   the last release that proved healthy on this box
 *   <root>/update-state.json          a trial under way, and the last update's outcome
 *
 * The pointers are symlinks replaced by rename, the state file by write-then-rename: a power cut
 * at any instant leaves each one old or new, never half-written.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export interface TrialState {
  /** The release being tried, and the confirmed one it replaces. */
  version: string;
  from: string;
  /** Starts of the trial release so far: it gets one; a second start before confirming rolls back. */
  starts: number;
  /** Instant (ms) by which it must confirm, else it stops itself and is rolled back. */
  deadline: number;
  rolloutId: string | null;
  /** Why the trial release found itself unhealthy, written by it before it stops. */
  failure?: string;
}

export interface UpdateOutcome {
  version: string;
  from: string;
  outcome: 'confirmed' | 'rolled-back' | 'refused';
  reason: string | null;
  at: number;
  rolloutId: string | null;
  /** Whether the server has been told (the agent sends it once connected). */
  reported: boolean;
}

export interface UpdateState {
  trial: TrialState | null;
  last: UpdateOutcome | null;
}

export class BoxLayout {
  constructor(readonly root: string) {}

  get releasesDir(): string {
    return join(this.root, 'releases');
  }

  releaseDir(version: string): string {
    return join(this.releasesDir, version);
  }

  /** The version a pointer names, or null where there is none (a box installed before releases). */
  pointer(name: 'current' | 'confirmed'): string | null {
    try {
      return basename(readlinkSync(join(this.root, name)));
    } catch {
      return null;
    }
  }

  /** Points `name` at releases/<version>, atomically. */
  setPointer(name: 'current' | 'confirmed', version: string): void {
    const tmp = join(this.root, `.${name}.${process.pid}.tmp`);
    rmSync(tmp, { force: true });
    symlinkSync(join('releases', version), tmp);
    renameSync(tmp, join(this.root, name));
    this.syncRoot();
  }

  readState(): UpdateState {
    try {
      const parsed = JSON.parse(readFileSync(join(this.root, 'update-state.json'), 'utf8')) as Partial<UpdateState>;
      return { trial: parsed.trial ?? null, last: parsed.last ?? null };
    } catch {
      return { trial: null, last: null };
    }
  }

  writeState(state: UpdateState): void {
    mkdirSync(this.root, { recursive: true });
    const tmp = join(this.root, `.update-state.${process.pid}.tmp`);
    const fd = openSync(tmp, 'w');
    try {
      writeFileSync(fd, `${JSON.stringify(state, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.root, 'update-state.json'));
    this.syncRoot();
  }

  private syncRoot(): void {
    const fd = openSync(this.root, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}
