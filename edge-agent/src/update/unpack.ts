/**
 * A release bundle on the box (issue 20): unpacked into a folder of its own next to the running
 * version, and trusted only once every check has passed — signed by a pinned release key, for
 * this box's architecture (and Node ABI, if it holds modules compiled for one), newer than what
 * runs and not too new for it, every file exactly as the manifest lists it and nothing else.
 * Only then is it renamed to `releases/<version>`, so a folder of that name is always whole.
 */
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, chmodSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, relative, sep } from 'node:path';
import { extract } from 'tar';
import { manifestRefusal, readBundleHead, sha256Hex, type ReleaseManifest, type ReleaseRefusal, type ServerKey } from '@loalang/protocol';

export interface BoxFacts {
  /** The release keys this box pins (agent config `releaseKeys`). */
  pinned: readonly ServerKey[];
  arch: string;
  nodeAbi: string;
  /** The version running now. */
  version: string;
}

export type UnpackResult = { ok: true; manifest: ReleaseManifest; dir: string } | { ok: false; refusal: ReleaseRefusal; detail: string };

/** The folders a bundle may hold: the manifest, its signature and `app/`. */
const TOP = new Set(['manifest.json', 'manifest.sig', 'app']);

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out.push(relative(dir, full).split(sep).join('/'));
    }
  };
  walk(dir);
  return out;
}

/**
 * Flushes the release's files to the disk before its folder gets its final name, so a power
 * cut after the rename finds it whole: one `sync -f` for the file system (coreutils), which on an
 * SD card is far quicker than an fsync per file of thousands; each file's own fsync where there is
 * no such command.
 */
function flushFiles(dir: string, files: readonly string[]): void {
  if (spawnSync('sync', ['-f', dir], { stdio: 'ignore' }).status === 0) return;
  for (const f of files) fsyncPath(join(dir, f));
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Unpacks `bundle` under `releasesDir` and checks it. On success the release is at
 * `releasesDir/<version>` (`app/` inside, plus its manifest and signature); on refusal nothing of
 * it is left behind.
 */
export async function unpackRelease(bundle: string, releasesDir: string, box: BoxFacts): Promise<UnpackResult> {
  // The manifest and its signature first, read from the bundle without writing anything: a
  // bundle nobody we trust signed, or not meant for this box, never reaches the disk.
  let manifestBytes: Buffer | null;
  let signatureBytes: Buffer | null;
  try {
    ({ manifest: manifestBytes, signature: signatureBytes } = await readBundleHead(bundle));
  } catch (err) {
    return { ok: false, refusal: 'bad-manifest', detail: `the bundle is not a readable tar.gz: ${(err as Error).message}` };
  }
  if (!manifestBytes || !signatureBytes) return { ok: false, refusal: 'bad-manifest', detail: 'manifest.json or manifest.sig is missing' };
  const checked = manifestRefusal(manifestBytes, signatureBytes, box);
  if ('refusal' in checked) return { ok: false, refusal: checked.refusal, detail: checked.detail };

  mkdirSync(releasesDir, { recursive: true });
  const incoming = join(releasesDir, `.incoming-${process.pid}-${Date.now()}`);
  mkdirSync(incoming);
  const refuse = (refusal: ReleaseRefusal, detail: string): UnpackResult => {
    rmSync(incoming, { recursive: true, force: true });
    return { ok: false, refusal, detail };
  };
  let oddEntry: string | null = null;
  try {
    await extract({
      file: bundle,
      cwd: incoming,
      strict: true,
      preserveOwner: false,
      // Plain files and folders only, under the three names a bundle has: no links, devices or paths outside.
      filter: (path, entry) => {
        const type = 'type' in entry ? entry.type : 'File';
        const ok = (type === 'File' || type === 'Directory') && TOP.has(path.replace(/^\.\//, '').split('/')[0]!);
        if (!ok) oddEntry ??= `${path} (${type})`;
        return ok;
      },
    });
  } catch (err) {
    return refuse('bad-manifest', `the bundle is not a readable tar.gz: ${(err as Error).message}`);
  }
  if (oddEntry) return refuse('unlisted-file', `the bundle holds ${oddEntry}, which no release has`);
  // What was extracted must be what was checked (a bundle holding two manifests, say).
  if (!readFileSync(join(incoming, 'manifest.json')).equals(manifestBytes)) return refuse('bad-manifest', 'the bundle holds more than one manifest');
  const { manifest } = checked;
  const app = join(incoming, 'app');
  const present = new Set(statSafe(app) ? filesUnder(app) : []);
  for (const f of manifest.files) {
    const path = join(app, f.path);
    if (!present.delete(f.path)) return refuse('missing-file', `${f.path} is in the manifest, not in the bundle`);
    const content = readFileSync(path);
    if (content.length !== f.size || sha256Hex(content) !== f.sha256) return refuse('changed-file', `${f.path} differs from the manifest (size ${content.length}, listed ${f.size})`);
    chmodSync(path, f.executable ? 0o755 : 0o644);
  }
  if (present.size > 0) return refuse('unlisted-file', `${[...present][0]} is in the bundle, not in the manifest`);
  flushFiles(app, manifest.files.map((f) => f.path));
  const dir = join(releasesDir, manifest.version);
  // A folder of this version from an attempt that did not finish (or was rolled back): replaced.
  rmSync(dir, { recursive: true, force: true });
  renameSync(incoming, dir);
  fsyncPath(releasesDir);
  return { ok: true, manifest, dir };
}

function statSafe(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
