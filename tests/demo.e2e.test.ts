/**
 * `loalang demo` as a newcomer runs it: three simulated speakers play a bulletin within a minute,
 * with Debian's tools and, as on a machine with only Node and npm, with the npm-shipped ffmpeg
 * alone. A second demo in the same folder or on the same ports refuses before touching data.
 */
import { afterAll, describe, it, type ExpectStatic } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, pathWithout, startCli, type Proc } from './support.js';

const dirs: string[] = [];
const procs: Proc[] = [];
afterAll(async () => {
  for (const p of procs) await p.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function startDemo(dir: string, env: Record<string, string | undefined> = {}, ports = ['0', '0']): Proc {
  const demo = startCli(['demo', '--devices', '3', '--data', dir, '--http-port', ports[0]!, '--mqtt-port', ports[1]!], env);
  procs.push(demo);
  return demo;
}

async function exitOf(p: Proc): Promise<number | null> {
  if (p.child.exitCode === null && p.child.signalCode === null) await new Promise((r) => p.child.once('exit', r));
  return p.child.exitCode;
}

/** Waits for the banner and the three plays; returns the console URL and admin password. */
async function demoPlays(expect: ExpectStatic, demo: Proc, dir: string): Promise<{ url: string; password: string }> {
  const started = Date.now();
  const url = (await demo.waitFor(/console:\s+(http:\/\/\S+?)\/?\s/, 30_000))[1]!;
  const password = (await demo.waitFor(/admin login:\s+admin \/ (\S+)/, 5_000))[1]!;
  await demo.waitFor(/All 3 speakers played the bulletin/, 60_000);
  process.stdout.write(`demo: all three plays reported ${((Date.now() - started) / 1000).toFixed(1)} s after start\n`);
  const login = await api<{ token: string }>(url, '/api/v1/auth/login', { json: { username: 'admin', password } });
  expect(login.status).toBe(200);
  const reports = await api<{ status: string; deviceId: string }[]>(url, '/api/v1/reports', { token: login.body.token });
  expect(reports.body.filter((r) => r.status === 'completed')).toHaveLength(3);
  expect(new Set(reports.body.map((r) => r.deviceId)).size).toBe(3);
  const sinkRoot = join(dir, 'demo', 'sink');
  const wavs = readdirSync(sinkRoot).flatMap((d) => readdirSync(join(sinkRoot, d)).filter((f) => f.endsWith('.wav')));
  expect(wavs).toHaveLength(3);
  // A new user sees the demo's output: no warning about a device message nobody handles.
  expect(demo.output()).not.toContain('uplink kind has no handler');
  expect(existsSync(join(dir, 'demo', 'loalang.db'))).toBe(true);
  return { url, password };
}

// The two demos run side by side (each in its own folder, on ports of its own): most of a demo's
// time is the wait for its bulletin's instant, 20 s after it starts.
describe.concurrent('loalang demo', () => {
  it('plays the bulletin on three simulated speakers; a second demo in the folder or on its ports refuses and leaves it running', async ({ expect }) => {
    const dir = tempDir('loalang-demo-');
    const first = startDemo(dir);
    const { url, password } = await demoPlays(expect, first, dir);
    const { port } = new URL(url);

    // Same folder: refused before anything is deleted, naming the running demo.
    const again = startDemo(dir);
    expect(await exitOf(again)).toBe(1);
    expect(again.output()).toContain('another demo is running');
    expect(again.output()).toContain(`pid ${first.child.pid}`);
    expect(again.output()).toContain(url);
    // Another folder, same HTTP port: refused before its own data is made.
    const other = tempDir('loalang-demo-other-');
    const clash = startDemo(other, {}, [port, '0']);
    expect(await exitOf(clash)).toBe(1);
    expect(clash.output()).toContain(`port ${port} is already in use`);
    expect(existsSync(join(other, 'demo'))).toBe(false);

    // The first demo is whole and still answers.
    expect(existsSync(join(dir, 'demo', 'loalang.db'))).toBe(true);
    expect((await api(url, '/api/v1/auth/login', { json: { username: 'admin', password } })).status).toBe(200);
    await first.stop();
    expect(existsSync(join(dir, 'demo.lock'))).toBe(false);
  }, 150_000);

  it('runs on the npm-shipped ffmpeg alone: Debian ffmpeg, ffprobe and espeak-ng hidden, LOALANG_FFMPEG unset; a stale lock is taken over', async ({ expect }) => {
    const dir = tempDir('loalang-demo-npm-');
    // A lock left by a demo that was killed (no such process).
    writeFileSync(join(dir, 'demo.lock'), JSON.stringify({ pid: 2 ** 22 + 17, startedAt: '2026-01-01T00:00:00Z' }));
    const bare = pathWithout(['ffmpeg', 'ffprobe', 'espeak-ng']);
    dirs.push(bare);
    const demo = startDemo(dir, { PATH: bare, LOALANG_FFMPEG: undefined, LOALANG_FFPROBE: undefined, LOALANG_ESPEAK: undefined });
    await demo.waitFor(/bulletin:\s+test tones \(espeak-ng not installed\)/, 30_000);
    const { url, password } = await demoPlays(expect, demo, dir);
    expect(JSON.parse(readFileSync(join(dir, 'demo.lock'), 'utf8'))).toMatchObject({ pid: demo.child.pid });
    // The banner's alert example works without a speech engine: it sends the demo recording.
    const body = JSON.parse(demo.output().match(/-d '(\{"contentId".*\})'/)![1]!) as unknown;
    const token = (await api<{ token: string }>(url, '/api/v1/auth/login', { json: { username: 'admin', password } })).body.token;
    const alert = await api<{ state: string }>(url, '/api/v1/alerts', { token, json: body });
    expect(alert.status, JSON.stringify(alert.body)).toBe(201);
    await demo.waitFor(/⚠ Loa Xã An Bình 1: finished/, 30_000);
  }, 150_000);
});
