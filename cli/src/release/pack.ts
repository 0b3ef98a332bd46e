/**
 * `loalang release pack` (issue 20): a signed bundle of the agent for one architecture. The
 * agent's closure (closure.ts) is staged under `app/` with a start script, every native module
 * is checked against the target architecture (prebuilds of other platforms are left out; a
 * module compiled here for another CPU is refused, clearly), and the manifest listing each file
 * is signed with the release key. The bundle is a gzipped tar a person can read with `tar tzf`.
 */
import { chmodSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { create as createTar } from 'tar';
import { compareVersions, parseReleaseManifest, RELEASE_VERSION_PATTERN, sha256Hex, signReleaseManifest, type ReleaseArch, type ReleaseManifest } from '@loalang/protocol';
import { agentClosure, type BundledFile } from './closure.js';

export interface PackOptions {
  /** The repository (installed and built). */
  root: string;
  version: string;
  arch: ReleaseArch;
  /** Default: the version itself (a box must already run at least this). */
  minPreviousVersion?: string;
  privateKeyPem: string;
  out: string;
  /** The time written into the manifest. */
  now?: Date;
  /** Extra files for `app/`, replacing any of the same path (tests: a release that crashes, one that cannot play). */
  extra?: { path: string; content: string | Buffer; executable?: boolean }[];
}

export const ENTRY = 'bin/loalang-agent.mjs';

/** The bundle's start script: `node app/bin/loalang-agent.mjs --config FILE`. */
const ENTRY_SCRIPT = `#!/usr/bin/env node
// LoaLang agent release: started by the service (loalang-agent.service) from releases/<version>/app.
import { runAgentCommand } from '@loalang/edge-agent';
process.exitCode = await runAgentCommand(process.argv.slice(2));
`;

export const GUARD = 'bin/loalang-update-guard.mjs';

/**
 * The guard the service runs before each start, from the confirmed release (trial.ts). It loads
 * the guard's own few modules, not the agent's (0.07 s against 0.35 s here: seconds on a Pi).
 */
const GUARD_SCRIPT = `#!/usr/bin/env node
// LoaLang update guard: the service's ExecStartPre, run from the confirmed release.
import { runUpdateGuard } from '@loalang/edge-agent/update-guard';
process.exitCode = runUpdateGuard(process.argv.slice(2));
`;

/** ELF e_machine of each architecture (x86-64, AArch64). */
const ELF_MACHINE: Record<ReleaseArch, number> = { x64: 62, arm64: 183 };

function elfMachine(file: string): number | null {
  const header = Buffer.alloc(20);
  const fd = openSync(file, 'r');
  try {
    if (readSync(fd, header, 0, 20, 0) < 20) return null;
  } finally {
    closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x7f454c46) return null;
  return header.readUInt16LE(18);
}

export class PackRefused extends Error {}

/**
 * Native modules against the target: prebuilds for another platform or architecture (or another
 * Node ABI) are left out; any other `.node` must be an ELF for the target CPU. Returns what to
 * keep and the Node ABI the bundle is tied to (a module compiled for this Node), if any.
 */
export function checkNative(files: BundledFile[], arch: ReleaseArch, abi = process.versions.modules): { keep: BundledFile[]; nodeAbi: string | null; dropped: number } {
  let nodeAbi: string | null = null;
  const keep: BundledFile[] = [];
  let dropped = 0;
  for (const f of files) {
    if (!f.path.endsWith('.node')) {
      keep.push(f);
      continue;
    }
    const prebuild = /\/prebuilds\/([^/]+)-([^/-]+)\/([^/]+)$/.exec(f.path);
    if (prebuild) {
      const abiOf = /abi(\d+)/.exec(prebuild[3]!)?.[1];
      if (prebuild[1] !== 'linux' || prebuild[2] !== arch || (abiOf !== undefined && abiOf !== abi)) {
        dropped++;
        continue;
      }
    } else {
      // Compiled at install time (node-gyp): for this Node's ABI, and for this machine's CPU.
      nodeAbi = abi;
    }
    const machine = elfMachine(f.source);
    if (machine !== ELF_MACHINE[arch]) {
      const built = Object.entries(ELF_MACHINE).find(([, m]) => m === machine)?.[0] ?? (machine === null ? 'not an ELF file' : `ELF machine ${machine}`);
      throw new PackRefused(
        `${f.path} is built for ${built}, not ${arch}: pack the ${arch} release on an ${arch} machine (npm ci there, then loalang release pack), so its native modules are built for it`,
      );
    }
    keep.push(f);
  }
  return { keep, nodeAbi, dropped };
}

/** Makes the bundle; returns its manifest. Throws PackRefused with the reason when it cannot. */
export async function packRelease(o: PackOptions): Promise<{ manifest: ReleaseManifest; bytes: number; leftOut: string[]; droppedPrebuilds: number }> {
  if (!new RegExp(RELEASE_VERSION_PATTERN).test(o.version)) throw new PackRefused(`--version ${o.version}: give MAJOR.MINOR.PATCH, e.g. 1.4.0`);
  const minPrevious = o.minPreviousVersion ?? '0.0.0';
  if (!new RegExp(RELEASE_VERSION_PATTERN).test(minPrevious)) throw new PackRefused(`--min-previous ${minPrevious}: give MAJOR.MINOR.PATCH`);
  if (compareVersions(minPrevious, o.version) >= 0) throw new PackRefused(`--min-previous ${minPrevious} must be older than --version ${o.version}`);
  const closure = agentClosure(o.root);
  const native = checkNative(closure.files, o.arch);
  const stage = mkdtempSync(join(tmpdir(), 'loalang-release-'));
  try {
    const app = join(stage, 'app');
    // By path: a later file of the same path (an `extra`) replaces the earlier one.
    const byPath = new Map<string, ReleaseManifest['files'][number]>();
    const put = (path: string, content: Buffer, executable: boolean) => {
      const target = join(app, path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, content, { mode: executable ? 0o755 : 0o644 });
      chmodSync(target, executable ? 0o755 : 0o644);
      byPath.set(path, { path, size: content.length, sha256: sha256Hex(content), executable });
    };
    for (const f of native.keep) {
      const content = readFileSync(f.source);
      put(f.path, content, (statSync(f.source).mode & 0o100) !== 0 || f.path.endsWith('.node'));
    }
    put('package.json', Buffer.from(`${JSON.stringify({ name: 'loalang-agent-release', version: o.version, private: true, type: 'module' }, null, 2)}\n`), false);
    put(ENTRY, Buffer.from(ENTRY_SCRIPT), true);
    put(GUARD, Buffer.from(GUARD_SCRIPT), true);
    for (const x of o.extra ?? []) put(x.path, Buffer.isBuffer(x.content) ? x.content : Buffer.from(x.content), x.executable ?? false);
    const entries = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const manifest: ReleaseManifest = {
      format: 1,
      name: 'loalang-agent',
      version: o.version,
      platform: 'linux',
      arch: o.arch,
      nodeAbi: native.nodeAbi,
      minPreviousVersion: minPrevious,
      createdAt: (o.now ?? new Date()).toISOString(),
      entry: ENTRY,
      files: entries,
    };
    const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`);
    const checked = parseReleaseManifest(manifestBytes);
    if (!checked.ok) throw new PackRefused(`the manifest would not be valid: ${checked.reason}`);
    writeFileSync(join(stage, 'manifest.json'), manifestBytes);
    writeFileSync(join(stage, 'manifest.sig'), `${JSON.stringify(signReleaseManifest(manifestBytes, o.privateKeyPem))}\n`);
    mkdirSync(dirname(o.out), { recursive: true });
    await createTar({ gzip: true, file: o.out, cwd: stage, portable: true, noMtime: true }, ['manifest.json', 'manifest.sig', 'app']);
    return { manifest, bytes: statSync(o.out).size, leftOut: closure.leftOut, droppedPrebuilds: native.dropped };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
