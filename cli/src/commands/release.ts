/**
 * `loalang release keygen` and `loalang release pack` (issue 20): the release key, kept by whoever
 * builds releases (never on the server or the boxes), and a signed agent bundle made with it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newSigningKey, type ReleaseArch } from '@loalang/protocol';
import { PackRefused, packRelease } from '../release/pack.js';
import { parse } from './util.js';

const USAGE =
  'Dùng / usage:\n' +
  '  loalang release keygen --out FILE\n' +
  '  loalang release pack --version X.Y.Z --key FILE --out FILE [--arch x64|arm64] [--min-previous X.Y.Z]\n';

/** The repository this command runs from (cli/dist/commands → the root). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'keygen') return keygen(rest);
  if (sub === 'pack') return pack(rest);
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
