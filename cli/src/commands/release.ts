/**
 * `loalang release keygen` and `loalang release pack` (issue 20): the release key, kept by whoever
 * builds releases (never on the server or the boxes), and a signed agent bundle made with it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newSigningKey, parseReleaseManifest, readBundleHead, type ReleaseArch, type ServerKey } from '@loalang/protocol';
import { unpackRelease } from '@loalang/edge-agent';
import { PackRefused, packRelease } from '../release/pack.js';
import { parse } from './util.js';

const USAGE =
  'Dùng / usage:\n' +
  '  loalang release keygen --out FILE\n' +
  '  loalang release pack --version X.Y.Z --key FILE --out FILE [--arch x64|arm64] [--min-previous X.Y.Z]\n' +
  '  loalang release verify --key PUBLIC.json BUNDLE\n';

/** The repository this command runs from (cli/dist/commands → the root). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'keygen') return keygen(rest);
  if (sub === 'pack') return pack(rest);
  if (sub === 'verify') return verify(rest);
  process.stderr.write(USAGE);
  return 2;
}

function keygen(args: string[]): number {
  const { values } = parse(args, { out: { type: 'string' } });
  if (!values.out) {
    process.stderr.write(USAGE);
    return 2;
  }
  const out = resolve(String(values.out));
  if (existsSync(out)) throw new Error(`${out} exists: a release key is never overwritten / ${out} đã tồn tại: không ghi đè khóa phát hành`);
  const key = newSigningKey();
  writeFileSync(out, key.privateKeyPem, { mode: 0o600, flag: 'wx' });
  const pub = { kid: key.kid, publicKey: key.publicKey };
  writeFileSync(`${out}.pub.json`, `${JSON.stringify(pub, null, 2)}\n`, { flag: 'wx' });
  process.stdout.write(
    `Khóa phát hành / release key: ${out} (keep it offline; it signs every agent release)\n` +
      `Public half: ${out}.pub.json — pin it on each box, in the agent config's "releaseKeys":\n  ${JSON.stringify(pub)}\n`,
  );
  return 0;
}

async function pack(args: string[]): Promise<number> {
  const { values } = parse(args, { version: { type: 'string' }, key: { type: 'string' }, out: { type: 'string' }, arch: { type: 'string' }, 'min-previous': { type: 'string' } });
  if (!values.version || !values.key || !values.out) {
    process.stderr.write(USAGE);
    return 2;
  }
  const arch = String(values.arch ?? process.arch);
  if (arch !== 'x64' && arch !== 'arm64') throw new Error(`--arch ${arch}: x64 or arm64 / --arch phải là x64 hoặc arm64`);
  try {
    const r = await packRelease({
      root: ROOT,
      version: String(values.version),
      arch: arch as ReleaseArch,
      ...(values['min-previous'] ? { minPreviousVersion: String(values['min-previous']) } : {}),
      privateKeyPem: readFileSync(resolve(String(values.key)), 'utf8'),
      out: resolve(String(values.out)),
    });
    process.stdout.write(
      `Gói phát hành / release bundle: ${resolve(String(values.out))}\n` +
        `  version ${r.manifest.version} for linux-${r.manifest.arch}${r.manifest.nodeAbi ? ` (Node ABI ${r.manifest.nodeAbi}: the box must run the same Node major as this machine, ${process.version})` : ''}, ` +
        `${r.manifest.files.length} files, ${(r.bytes / 1024 / 1024).toFixed(1)} MiB; installs over ${r.manifest.minPreviousVersion} or later\n` +
        (r.leftOut.length ? `  left out: ${r.leftOut.join(', ')} (the box uses Debian's ffmpeg)\n` : ''),
    );
    return 0;
  } catch (err) {
    if (err instanceof PackRefused) throw Object.assign(err, { messageVi: 'không đóng gói được bản phát hành' });
    throw err;
  }
}

/**
 * Checks a bundle as a box would, before it is copied to one (the first install has no release
 * of ours on the box to check it): signed by the key given, every file as its manifest lists it.
 */
async function verify(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { key: { type: 'string' } });
  const bundle = positionals[0];
  if (!values.key || !bundle) {
    process.stderr.write(USAGE);
    return 2;
  }
  const parsed = JSON.parse(readFileSync(resolve(String(values.key)), 'utf8')) as ServerKey | ServerKey[];
  const pinned = Array.isArray(parsed) ? parsed : [parsed];
  const head = await readBundleHead(resolve(bundle)).catch(() => ({ manifest: null, signature: null }));
  const manifest = head.manifest ? parseReleaseManifest(head.manifest) : null;
  const scratch = mkdtempSync(join(tmpdir(), 'loalang-verify-'));
  try {
    // The box's facts are the bundle's own: only who signed it and its files are in question here.
    const facts = manifest?.ok
      ? { arch: manifest.value.arch, nodeAbi: manifest.value.nodeAbi ?? process.versions.modules, version: manifest.value.minPreviousVersion }
      : { arch: process.arch, nodeAbi: process.versions.modules, version: '0.0.0' };
    const r = await unpackRelease(resolve(bundle), join(scratch, 'releases'), { pinned, ...facts });
    if (!r.ok) {
      process.stderr.write(`loalang: bị từ chối / refused: ${r.refusal}: ${r.detail}\n`);
      return 1;
    }
    const m = r.manifest;
    process.stdout.write(`Hợp lệ / valid: release ${m.version} for linux-${m.arch}${m.nodeAbi ? ` (Node ABI ${m.nodeAbi})` : ''}, ${m.files.length} files, installs over ${m.minPreviousVersion} or later; signed by ${pinned.map((k) => k.kid).join(', ')}\n`);
    return 0;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
