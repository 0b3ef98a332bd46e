/**
 * The box's install script (deploy/install-agent.sh, issue 20), run for real in prefix mode (the
 * same script, everything under a folder, without the steps that need root: packages, the user,
 * systemctl): a signed bundle is checked with no code of ours, unpacked into
 * opt/loalang/releases/<version> with `current` and `confirmed` pointing at it, the config gets
 * installRoot, releaseKeys and cacheDir, the unit its paths; its guard command runs. A bundle with
 * a bad signature, a changed file, the wrong architecture, a downgrade or one the box is too old
 * for is refused with the reason, in English and Vietnamese, and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newSigningKey, type ReleaseManifest } from '@loalang/protocol';
import { packRelease } from '../cli/src/release/pack.js';
import { bundleVariant, INSTALL_SCRIPT, installedUnit, installInto } from './install-support.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const arch = process.arch as 'x64' | 'arm64';

describe.runIf(process.platform === 'linux' && (arch === 'x64' || arch === 'arm64'))('deploy/install-agent.sh', () => {
  const key = newSigningKey();
  let dir: string;
  let bundle: string;
  let keyFile: string;
  let config: string;

  const install = installInto;
  const variant = (name: string, change: { manifest?: (m: ReleaseManifest) => void; files?: (app: string) => void; signer?: string }) =>
    bundleVariant(bundle, dir, name, { ...change, signerPem: change.signer ?? key.privateKeyPem });
  const pointers = (prefix: string) => ['current', 'confirmed'].map((p) => readlinkSync(join(prefix, 'opt/loalang', p)));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'loalang-install-'));
    bundle = join(dir, 'agent-1.0.0.tar.gz');
    await packRelease({ root: ROOT, version: '1.0.0', arch, privateKeyPem: key.privateKeyPem, out: bundle, minPreviousVersion: '0.5.0' });
    keyFile = join(dir, 'release.key.pub.json');
    writeFileSync(keyFile, JSON.stringify({ kid: key.kid, publicKey: key.publicKey }));
    // The agent config as the console gives it for a new speaker (no releaseKeys: that server has none).
    config = join(dir, 'loa-01.json');
    writeFileSync(
      config,
      JSON.stringify({ deviceId: 'loa-01', password: 'mat-khau-thiet-bi-dai-du', mqttUrl: 'mqtt://127.0.0.1:1', httpUrl: 'http://127.0.0.1:1', cacheDir: 'cache', serial: { simulate: true }, audioSink: 'null', serverKeys: [{ kid: key.kid, publicKey: key.publicKey }] }),
    );
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('installs a signed bundle: the release, its pointers, the config and the unit; its guard runs', () => {
    const box = join(dir, 'box');
    const r = install(box, '--bundle', bundle, '--config', config, '--release-key', keyFile, '--serial-port', '/dev/ttyUSB0', '--audio-sink', 'alsa:default');
    expect(r.stderr).toContain('installed release 1.0.0');
    expect(r.status).toBe(0);
    const opt = join(box, 'opt/loalang');
    expect(pointers(box)).toEqual(['releases/1.0.0', 'releases/1.0.0']);
    expect(existsSync(join(opt, 'releases/1.0.0/app/bin/loalang-agent.mjs'))).toBe(true);
    expect(statSync(join(opt, 'releases/1.0.0/app/bin/loalang-agent.mjs')).mode & 0o777).toBe(0o755);
    expect(readdirSync(join(opt, 'releases'))).toEqual(['1.0.0']);
    const written = JSON.parse(readFileSync(join(box, 'etc/loalang/agent.json'), 'utf8')) as Record<string, unknown>;
    expect(written).toMatchObject({
      deviceId: 'loa-01',
      installRoot: opt,
      cacheDir: join(box, 'var/lib/loalang-agent/cache'),
      releaseKeys: [{ kid: key.kid, publicKey: key.publicKey }],
      serial: { simulate: true, path: '/dev/ttyUSB0' },
      audioSink: 'alsa:default',
    });
    // The password is in it: readable by the agent's group only.
    expect(statSync(join(box, 'etc/loalang/agent.json')).mode & 0o777).toBe(0o640);
    const unit = installedUnit(box);
    expect(unit.pre).toEqual({ command: process.execPath, args: [join(opt, 'confirmed/app/bin/loalang-update-guard.mjs'), '--root', opt] });
    expect(unit.main).toEqual({ command: process.execPath, args: [join(opt, 'current/app/bin/loalang-agent.mjs'), '--config', join(box, 'etc/loalang/agent.json')] });
    expect(readFileSync(join(box, 'etc/systemd/system/loalang-agent.service'), 'utf8')).toContain(`ReadWritePaths=${join(box, 'var/lib/loalang-agent')} ${opt}`);
    const ran = spawnSync(unit.pre.command, unit.pre.args, { encoding: 'utf8' });
    expect(ran.status).toBe(0);
    expect(ran.stdout).toContain('"msg":"update guard"');
  }, 120_000);

  it('refuses a bundle not signed by a given key, with a changed file, for another CPU, a downgrade or one the box is too old for: nothing changes', async () => {
    const box = join(dir, 'box-refusals');
    expect(install(box, '--bundle', bundle, '--config', config, '--release-key', keyFile).status).toBe(0);
    const stranger = newSigningKey();
    const cases: [string, string, RegExp][] = [
      ['stranger', await variant('stranger', { manifest: (m) => void (m.version = '1.1.0'), signer: stranger.privateKeyPem }), /refused: bad-signature: signed by key .*, which is not among the release keys given/],
      ['changed', await variant('changed', { files: (app) => writeFileSync(join(app, 'bin/loalang-agent.mjs'), 'process.exit(0)\n') }), /refused: changed-file: bin\/loalang-agent\.mjs differs from the manifest/],
      ['arch', await variant('arch', { manifest: (m) => void ((m.arch = arch === 'x64' ? 'arm64' : 'x64'), (m.version = '1.1.0')) }), /refused: wrong-arch: the bundle is for linux-(arm64|x64), this box is linux-(x64|arm64): pack it on a/],
      ['downgrade', await variant('downgrade', { manifest: (m) => void (m.version = '0.9.0') }), /refused: downgrade: release 0\.9\.0 is older than 1\.0\.0/],
      ['too-old', await variant('too-old', { manifest: (m) => void ((m.version = '3.0.0'), (m.minPreviousVersion = '2.0.0')) }), /refused: too-old: release 3\.0\.0 installs over 2\.0\.0 or later; this box has 1\.0\.0/],
    ];
    const before = readFileSync(join(box, 'etc/loalang/agent.json'), 'utf8');
    for (const [name, file, reason] of cases) {
      const r = install(box, '--bundle', file, '--release-key', keyFile);
      expect(r.stderr, name).toMatch(reason);
      expect(r.stderr, name).toContain('bị từ chối');
      expect(r.status, name).toBe(1);
      expect(readdirSync(join(box, 'opt/loalang/releases')), name).toEqual(['1.0.0']);
      expect(pointers(box), name).toEqual(['releases/1.0.0', 'releases/1.0.0']);
    }
    expect(readFileSync(join(box, 'etc/loalang/agent.json'), 'utf8')).toBe(before);
    // A downgrade on purpose: said so.
    const forced = install(box, '--bundle', cases[3]![1], '--release-key', keyFile, '--allow-downgrade');
    expect(forced.status, forced.stderr).toBe(0);
    expect(pointers(box)).toEqual(['releases/0.9.0', 'releases/0.9.0']);
  }, 120_000);

  it('installs over a box with an update on trial (by hand wins, recorded as its outcome); the config stays', async () => {
    const box = join(dir, 'box-again');
    expect(install(box, '--bundle', bundle, '--config', config, '--release-key', keyFile).status).toBe(0);
    const opt = join(box, 'opt/loalang');
    writeFileSync(join(opt, 'update-state.json'), JSON.stringify({ trial: { version: '1.0.5', from: '1.0.0', starts: 1, deadline: Date.now() + 60_000, rolloutId: 'r1' }, last: null }));
    const next = await variant('next', { manifest: (m) => void (m.version = '1.1.0') });
    // No --config: the box's own is kept (its keys pinned, its password).
    const r = install(box, '--bundle', next);
    expect(r.status, r.stderr).toBe(0);
    expect(pointers(box)).toEqual(['releases/1.1.0', 'releases/1.1.0']);
    expect(readdirSync(join(opt, 'releases')).sort()).toEqual(['1.0.0', '1.1.0']);
    const state = JSON.parse(readFileSync(join(opt, 'update-state.json'), 'utf8')) as { trial: unknown; last: { version: string; outcome: string; reason: string } };
    expect(state.trial).toBeNull();
    expect(state.last).toMatchObject({ version: '1.0.5', outcome: 'rolled-back', reason: 'replaced by 1.1.0, installed by hand' });
    expect(JSON.parse(readFileSync(join(box, 'etc/loalang/agent.json'), 'utf8'))).toMatchObject({ deviceId: 'loa-01', releaseKeys: [{ kid: key.kid }] });
  }, 120_000);

  it('says what is missing: no release key, no config on a first install, no bundle, not root', () => {
    const noKey = install(join(dir, 'box-nokey'), '--bundle', bundle, '--config', config);
    expect(noKey.stderr).toContain('no release key: give --release-key FILE.pub.json');
    expect(noKey.status).toBe(1);
    expect(existsSync(join(dir, 'box-nokey/opt/loalang/releases'))).toBe(false);
    const noConfig = install(join(dir, 'box-noconfig'), '--bundle', bundle, '--release-key', keyFile);
    expect(noConfig.stderr).toContain('--config is required on a first install');
    expect(noConfig.status).toBe(1);
    const spaced = install(join(dir, 'box with spaces'), '--bundle', bundle, '--config', config, '--release-key', keyFile);
    expect(spaced.stderr).toContain('--prefix may not hold spaces');
    expect(spaced.status).toBe(1);
    const noBundle = install(join(dir, 'box-nobundle'), '--config', config);
    expect(noBundle.stderr).toContain('--bundle is required');
    const notRoot = spawnSync('bash', [INSTALL_SCRIPT, '--bundle', bundle, '--config', config], { encoding: 'utf8' });
    if (process.getuid?.() !== 0) expect(notRoot.stderr).toContain('run it as root (sudo), or with --prefix DIR');
  });
});
