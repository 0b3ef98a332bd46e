#!/usr/bin/env node
/**
 * The install script's check of a release bundle (deploy/install-agent.sh, issue 20), in plain
 * Node with no module of ours: on a fresh box nothing of LoaLang is there to trust yet, and the
 * bundle's own code must not vouch for itself. It checks what the agent's unpack.ts checks.
 *
 *   verify-bundle.mjs head  MANIFEST SIG KEYS_JSON ARCH ABI [CONFIRMED_VERSION ALLOW_DOWNGRADE]
 *       the signature by a pinned key, the architecture and Node ABI, the version against the
 *       release confirmed on the box; prints the version
 *   verify-bundle.mjs files MANIFEST APP_DIR
 *       every file as listed (size, SHA-256), nothing else; sets the modes
 *
 * Exit 0: valid. Exit 1: refused, the reason on stderr in English and Vietnamese, as
 * `refused: <reason>: …` (the same reasons as the agent's).
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { chmodSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

const PREFIX = Buffer.from('loalang-release-manifest/v1\n');
const VI = {
  'bad-signature': 'không được ký bằng khóa phát hành đã ghim',
  'bad-manifest': 'bản kê khai hỏng',
  'wrong-arch': 'sai kiến trúc máy',
  'wrong-node': 'sai phiên bản Node',
  downgrade: 'cũ hơn bản đang chạy',
  'too-old': 'bản đang chạy quá cũ để cài bản này',
  'changed-file': 'một tệp đã bị thay đổi',
  'missing-file': 'thiếu tệp',
  'unlisted-file': 'có tệp ngoài bản kê khai',
};

function refuse(reason, detail) {
  process.stderr.write(`refused: ${reason}: ${detail}\nbị từ chối: ${VI[reason] ?? reason}\n`);
  process.exit(1);
}

function compareVersions(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

function readManifest(path) {
  let m;
  try {
    m = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    refuse('bad-manifest', `manifest.json: ${err.message}`);
  }
  const version = /^(0|[1-9][0-9]{0,4})\.(0|[1-9][0-9]{0,4})\.(0|[1-9][0-9]{0,4})$/;
  if (m?.format !== 1 || m.name !== 'loalang-agent' || !version.test(m.version ?? '') || !version.test(m.minPreviousVersion ?? '') || !Array.isArray(m.files) || m.files.length === 0) {
    refuse('bad-manifest', 'manifest.json is not a loalang-agent release manifest');
  }
  for (const f of m.files) {
    if (typeof f?.path !== 'string' || f.path.startsWith('/') || f.path.split('/').some((p) => p === '..' || p === '.' || p === '') || !/^[0-9a-f]{64}$/.test(f.sha256 ?? '') || !Number.isInteger(f.size)) {
      refuse('bad-manifest', `manifest.json lists a file it may not: ${JSON.stringify(f?.path)}`);
    }
  }
  return m;
}

function keyIdOf(publicKey) {
  return createHash('sha256').update(Buffer.from(publicKey, 'base64url')).digest().subarray(0, 9).toString('base64url');
}

function head([manifestPath, sigPath, keysJson, arch, abi, confirmed, allowDowngrade]) {
  const manifestBytes = readFileSync(manifestPath);
  let sig;
  try {
    sig = JSON.parse(readFileSync(sigPath, 'utf8'));
  } catch (err) {
    refuse('bad-signature', `manifest.sig: ${err.message}`);
  }
  const keys = JSON.parse(keysJson);
  const signer = keys.find((k) => {
    if (k.kid !== sig?.kid || keyIdOf(k.publicKey) !== k.kid || typeof sig.sig !== 'string') return false;
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.publicKey }, format: 'jwk' });
    return verify(null, Buffer.concat([PREFIX, manifestBytes]), key, Buffer.from(sig.sig, 'base64url'));
  });
  if (!signer) refuse('bad-signature', `signed by key ${sig?.kid}, which is not among the release keys given (${keys.map((k) => k.kid).join(', ')}), or the signature is wrong`);
  const m = readManifest(manifestPath);
  if (m.platform !== 'linux' || m.arch !== arch) refuse('wrong-arch', `the bundle is for ${m.platform}-${m.arch}, this box is linux-${arch}: pack it on a ${arch} machine`);
  if (m.nodeAbi !== null && m.nodeAbi !== abi) refuse('wrong-node', `its compiled modules need Node ABI ${m.nodeAbi}, this Node has ${abi}`);
  if (confirmed && allowDowngrade !== '1') {
    if (compareVersions(m.version, confirmed) < 0) refuse('downgrade', `release ${m.version} is older than ${confirmed}, installed here (--allow-downgrade to install it anyway)`);
    if (compareVersions(confirmed, m.minPreviousVersion) < 0) refuse('too-old', `release ${m.version} installs over ${m.minPreviousVersion} or later; this box has ${confirmed}: install a release in between first`);
  }
  process.stdout.write(`${m.version}\n`);
  process.stderr.write(`valid: release ${m.version} for linux-${m.arch}, ${m.files.length} files, signed by ${signer.kid}\n`);
}

function files([manifestPath, app]) {
  const m = readManifest(manifestPath);
  const present = new Map();
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, e.name);
      const rel = relative(app, full).split(sep).join('/');
      if (e.isDirectory()) walk(full);
      else if (e.isFile()) present.set(rel, full);
      else refuse('unlisted-file', `${rel} is not a plain file (a link or a device), which no release has`);
    }
  };
  walk(app);
  for (const f of m.files) {
    const path = present.get(f.path);
    if (!path) refuse('missing-file', `${f.path} is in the manifest, not in the bundle`);
    present.delete(f.path);
    const content = readFileSync(path);
    if (content.length !== f.size || createHash('sha256').update(content).digest('hex') !== f.sha256) refuse('changed-file', `${f.path} differs from the manifest`);
    if (lstatSync(path).isSymbolicLink()) refuse('unlisted-file', `${f.path} is a link`);
    chmodSync(path, f.executable ? 0o755 : 0o644);
  }
  if (present.size > 0) refuse('unlisted-file', `${[...present.keys()][0]} is in the bundle, not in the manifest`);
}

const [command, ...args] = process.argv.slice(2);
if (command === 'head') head(args);
else if (command === 'files') files(args);
else {
  process.stderr.write('usage: verify-bundle.mjs head MANIFEST SIG KEYS_JSON ARCH ABI [CONFIRMED ALLOW_DOWNGRADE] | files MANIFEST APP_DIR\n');
  process.exit(2);
}
