/** Boxes installed by deploy/install-agent.sh in prefix mode, and bundles made otherwise than by `release pack` (issue 20). */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create as createTar, extract } from 'tar';
import { signReleaseManifest, type ReleaseManifest } from '@loalang/protocol';

export const INSTALL_SCRIPT = fileURLToPath(new URL('../deploy/install-agent.sh', import.meta.url));

/** Runs the install script into `prefix`. */
export function installInto(prefix: string, ...args: string[]): SpawnSyncReturns<string> {
  return spawnSync('bash', [INSTALL_SCRIPT, '--prefix', prefix, ...args], { encoding: 'utf8', timeout: 120_000 });
}

/** The commands of the unit the script wrote under `prefix`: ExecStartPre (the guard) and ExecStart. */
export function installedUnit(prefix: string): { pre: { command: string; args: string[] }; main: { command: string; args: string[] } } {
  const unit = readFileSync(join(prefix, 'etc/systemd/system/loalang-agent.service'), 'utf8');
  const exec = (name: string) => {
    const [command, ...args] = new RegExp(`^${name}=(.*)$`, 'm').exec(unit)![1]!.split(' ');
    return { command: command!, args };
  };
  return { pre: exec('ExecStartPre'), main: exec('ExecStart') };
}

/**
 * `bundle` unpacked into `dir/<name>`, its files and manifest changed, signed again by
 * `signerPem` when the manifest changed, packed as `dir/<name>.tar.gz`: a release made otherwise
 * (for another CPU, another version), or a file changed after signing.
 */
export async function bundleVariant(bundle: string, dir: string, name: string, change: { manifest?: (m: ReleaseManifest) => void; files?: (app: string) => void; signerPem: string }): Promise<string> {
  const work = join(dir, `variant-${name}`);
  mkdirSync(work);
  await extract({ file: bundle, cwd: work });
  change.files?.(join(work, 'app'));
  if (change.manifest) {
    const m = JSON.parse(readFileSync(join(work, 'manifest.json'), 'utf8')) as ReleaseManifest;
    change.manifest(m);
    const bytes = Buffer.from(JSON.stringify(m));
    writeFileSync(join(work, 'manifest.json'), bytes);
    writeFileSync(join(work, 'manifest.sig'), JSON.stringify(signReleaseManifest(bytes, change.signerPem)));
  }
  const out = join(dir, `${name}.tar.gz`);
  await createTar({ gzip: true, file: out, cwd: work, portable: true }, readdirSync(work));
  return out;
}
