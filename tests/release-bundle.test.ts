/**
 * Agent release bundles (issue 20): `loalang release keygen` and `pack` make a signed bundle of
 * the built agent and its production dependencies; a box unpacks it next to the running version
 * and refuses, with the reason, a bundle with a bad signature, a changed or added file, a link,
 * the wrong architecture or Node, a downgrade or a box too old for it — leaving nothing behind.
 * The unpacked release starts (its module graph loads from the bundle alone).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create as createTar, extract } from 'tar';
import { newSigningKey, parseReleaseManifest, type ServerKey } from '@loalang/protocol';
import { unpackRelease, type BoxFacts } from '@loalang/edge-agent';
import { checkNative, packRelease, PackRefused } from '../cli/src/release/pack.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'cli/dist/main.js');
const arch = process.arch as 'x64' | 'arm64';

describe('agent release bundles', () => {
  let dir: string;
  let key: ServerKey & { privateKeyPem: string };
  let bundle: string;
  const box = (over: Partial<BoxFacts> = {}): BoxFacts => ({ pinned: [{ kid: key.kid, publicKey: key.publicKey }], arch, nodeAbi: process.versions.modules, version: '0.1.0', ...over });
  /** The bundle, unpacked, changed by `change`, packed again (as an attacker or a bad disk would). */
  const tampered = async (name: string, change: (unpacked: string) => void) => {
    const work = join(dir, `tamper-${name}`);
    mkdirSync(work);
    await extract({ file: bundle, cwd: work });
    change(work);
    const out = join(dir, `${name}.tar.gz`);
    await createTar({ gzip: true, file: out, cwd: work, portable: true }, readdirSync(work));
    return out;
  };
  const leftovers = (releases: string) => (existsSync(releases) ? readdirSync(releases).filter((n) => n.startsWith('.incoming')) : []);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'loalang-release-'));
    key = newSigningKey();
    writeFileSync(join(dir, 'release.key'), key.privateKeyPem);
    bundle = join(dir, 'agent-0.2.0.tar.gz');
    await packRelease({ root: ROOT, version: '0.2.0', arch, privateKeyPem: key.privateKeyPem, out: bundle });
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keygen and pack from the command line: the key file is private, the public half printed to pin', () => {
    const keyFile = join(dir, 'cli.key');
    const made = spawnSync(process.execPath, [CLI, 'release', 'keygen', '--out', keyFile], { encoding: 'utf8' });
    expect(made.status).toBe(0);
    const pub = JSON.parse(readFileSync(`${keyFile}.pub.json`, 'utf8')) as ServerKey;
    expect(made.stdout).toContain(pub.kid);
    expect(execFileSync('stat', ['-c', '%a', keyFile], { encoding: 'utf8' }).trim()).toBe('600');
    // Never overwritten.
    const again = spawnSync(process.execPath, [CLI, 'release', 'keygen', '--out', keyFile], { encoding: 'utf8' });
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('never overwritten');
    const out = join(dir, 'cli-bundle.tar.gz');
    const packed = spawnSync(process.execPath, [CLI, 'release', 'pack', '--version', '1.0.0', '--key', keyFile, '--out', out, '--min-previous', '0.1.0'], { encoding: 'utf8' });
    expect(packed.stderr).toBe('');
    expect(packed.status).toBe(0);
    expect(packed.stdout).toMatch(/version 1\.0\.0 for linux-(x64|arm64)/);
    // Verified as a box would, before it is copied to one: with its key, and refused with another.
    const verified = spawnSync(process.execPath, [CLI, 'release', 'verify', '--key', `${keyFile}.pub.json`, out], { encoding: 'utf8' });
    expect(verified.stdout).toMatch(/valid: release 1\.0\.0 for linux-(x64|arm64).*installs over 0\.1\.0 or later; signed by /);
    expect(verified.status).toBe(0);
    writeFileSync(join(dir, 'other.pub.json'), JSON.stringify((({ kid, publicKey }) => ({ kid, publicKey }))(newSigningKey())));
    const refused = spawnSync(process.execPath, [CLI, 'release', 'verify', '--key', join(dir, 'other.pub.json'), out], { encoding: 'utf8' });
    expect(refused.stderr).toContain('refused: bad-signature');
    expect(refused.status).toBe(1);
    const bad = spawnSync(process.execPath, [CLI, 'release', 'pack', '--version', '1.0', '--key', keyFile, '--out', out], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('MAJOR.MINOR.PATCH');
  }, 60_000);

  it('a box unpacks a good bundle next to the running version; it holds the agent and no dev dependency, and starts', async () => {
    const releases = join(dir, 'box-ok', 'releases');
    const r = await unpackRelease(bundle, releases, box());
    expect(r).toMatchObject({ ok: true, dir: join(releases, '0.2.0') });
    if (!r.ok) return;
    const paths = r.manifest.files.map((f) => f.path);
    expect(paths).toContain('bin/loalang-agent.mjs');
    expect(paths).toContain('node_modules/@loalang/edge-agent/package.json');
    expect(paths.some((p) => p.startsWith('node_modules/@loalang/edge-agent/dist/'))).toBe(true);
    // Not the server, not the tests' tools, not the npm ffmpeg (the box has Debian's).
    for (const absent of ['node_modules/@loalang/broker/', 'node_modules/@loalang/console/', 'node_modules/vitest/', 'node_modules/typescript/', 'node_modules/@ffmpeg-installer/', 'node_modules/aedes/']) {
      expect(paths.filter((p) => p.startsWith(absent))).toEqual([]);
    }
    expect(paths.filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts') && p.startsWith('node_modules/@loalang/'))).toEqual([]);
    expect(leftovers(releases)).toEqual([]);
    // The unpacked release runs from its own folder: without a config it says how to start it.
    const started = spawnSync(process.execPath, [join(r.dir, 'app', r.manifest.entry)], { encoding: 'utf8', cwd: tmpdir() });
    expect(started.stderr).toContain('usage: loalang agent --config FILE');
    expect(started.status).toBe(2);
  }, 30_000);

  const otherKey = newSigningKey();
  it.each<[string, string, Partial<BoxFacts>]>([
    ['bad-signature', 'another key', { pinned: [{ kid: otherKey.kid, publicKey: otherKey.publicKey }] }],
    ['wrong-arch', 'another CPU', { arch: arch === 'x64' ? 'arm64' : 'x64' }],
    ['wrong-node', 'another Node ABI', { nodeAbi: '999' }],
    ['downgrade', 'the same version again', { version: '0.2.0' }],
    ['downgrade', 'an older version', { version: '1.3.0' }],
  ])('refuses %s (%s), before writing anything', async (refusal, _what, over) => {
    const releases = join(dir, `box-${refusal}-${Math.random().toString(36).slice(2)}`, 'releases');
    const r = await unpackRelease(bundle, releases, box(over));
    expect(r).toMatchObject({ ok: false, refusal });
    expect(existsSync(releases)).toBe(false);
  });

  it('refuses a changed file, an added file, a missing file, a link, a changed manifest and a box too old for the release', async () => {
    const cases: [string, string][] = [
      [await tampered('changed', (w) => appendFileSync(join(w, 'app/node_modules/@loalang/edge-agent/dist/agent.js'), '\n;process.exit(0);\n')), 'changed-file'],
      [await tampered('added', (w) => writeFileSync(join(w, 'app/bin/extra.mjs'), 'console.log(1)')), 'unlisted-file'],
      [await tampered('missing', (w) => rmSync(join(w, 'app/node_modules/@loalang/edge-agent/package.json'))), 'missing-file'],
      [await tampered('link', (w) => symlinkSync('/etc/passwd', join(w, 'app/passwd'))), 'unlisted-file'],
      [await tampered('manifest', (w) => writeFileSync(join(w, 'manifest.json'), readFileSync(join(w, 'manifest.json'), 'utf8').replace('"minPreviousVersion": "0.0.0"', '"minPreviousVersion": "0.0.1"'))), 'bad-signature'],
      [await tampered('no-sig', (w) => rmSync(join(w, 'manifest.sig'))), 'bad-manifest'],
    ];
    const tooOld = join(dir, 'agent-0.3.0.tar.gz');
    await packRelease({ root: ROOT, version: '0.3.0', arch, minPreviousVersion: '0.2.0', privateKeyPem: key.privateKeyPem, out: tooOld });
    cases.push([tooOld, 'too-old']);
    const garbage = join(dir, 'garbage.tar.gz');
    writeFileSync(garbage, 'not a bundle at all');
    cases.push([garbage, 'bad-manifest']);
    for (const [file, refusal] of cases) {
      const releases = join(dir, `box-${refusal}-${Math.random().toString(36).slice(2)}`, 'releases');
      const r = await unpackRelease(file, releases, box());
      expect({ file, ...r }).toMatchObject({ file, ok: false, refusal });
      expect(leftovers(releases)).toEqual([]);
    }
  }, 180_000);

  it('the manifest names the architecture and the Node ABI of compiled modules; a module built for another CPU is refused at pack time', async () => {
    const manifest = parseReleaseManifest(execFileSync('tar', ['xzOf', bundle, 'manifest.json']));
    expect(manifest.ok && manifest.value).toMatchObject({ arch, platform: 'linux', version: '0.2.0', minPreviousVersion: '0.0.0' });
    // better-sqlite3 12 is compiled here for this Node.
    expect(manifest.ok && manifest.value.nodeAbi).toBe(process.versions.modules);
    const other = arch === 'x64' ? 'arm64' : 'x64';
    await expect(packRelease({ root: ROOT, version: '0.4.0', arch: other, privateKeyPem: key.privateKeyPem, out: join(dir, 'other.tar.gz') })).rejects.toThrow(
      new RegExp(`better_sqlite3\\.node is built for ${arch}, not ${other}: pack the ${other} release on an ${other} machine`),
    );
    await expect(packRelease({ root: ROOT, version: '0.4.0', arch: other, privateKeyPem: key.privateKeyPem, out: join(dir, 'other.tar.gz') })).rejects.toBeInstanceOf(PackRefused);
    // Prebuilds for other platforms are left out, the target's kept.
    const fake = (path: string) => ({ source: join(ROOT, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'), path });
    const { keep, dropped } = checkNative([fake(`node_modules/x/prebuilds/linux-${arch}/x.node`), fake('node_modules/x/prebuilds/darwin-arm64/x.node'), fake(`node_modules/x/prebuilds/linux-${other}/x.node`), fake(`node_modules/x/prebuilds/linux-${arch}/node.abi1.node`)], arch);
    expect(keep.map((f) => f.path)).toEqual([`node_modules/x/prebuilds/linux-${arch}/x.node`]);
    expect(dropped).toBe(3);
  }, 60_000);
});
