/**
 * Every benchmark `npm run bench` offers runs at its smallest size (LOALANG_BENCH_SMOKE=1), so a
 * bench cannot rot unnoticed again (issue 14: start-accuracy crashed for months on a config key
 * that became required). Each is a real child process on the built packages; it must exit 0
 * and print its figures. The figures themselves are not judged: they belong in
 * docs/performance.md, measured at full size on a quiet machine.
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireTool } from './support.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Smoke {
  /** Kill it after this long (it takes a few seconds on an idle machine; the suite shares 2 cores). */
  timeoutMs: number;
  /** Lines of figures it must print; a pattern may require a count to equal another (\1). */
  figures: RegExp[];
  /** A Debian tool without which it measures nothing. */
  tool?: string;
}

const num = String.raw`-?\d+(?:\.\d+)?`;
const re = (source: string, flags = '') => new RegExp(source.replaceAll('NUM', num), flags);

const BENCHES: Record<string, Smoke> = {
  'agent-idle.mjs': { timeoutMs: 60_000, figures: [re('agent idle over NUM s: CPU NUM s = NUM % of one core; RSS min NUM MiB, median NUM MiB, max NUM MiB')] },
  'alert-fanout.mjs': {
    timeoutMs: 90_000,
    figures: [
      re(String.raw`start spread, (\d+) agents, .*: spread NUM ms \(p50 NUM ms, p99 NUM ms after the instant; \1/\1 started\)`),
      re(String.raw`LoaLang  POST /alerts → receipt at (\d+)/\1: p50 NUM ms, p95 NUM ms`),
      // The reference runs when Debian's mosquitto is installed; the bench says when it skipped it.
      re(String.raw`Mosquitto publish → receipt at (\d+)/\1: p50 NUM ms|Mosquitto reference skipped \(not installed\)`),
    ],
  },
  'cluster-fanout.mjs': {
    // Two server processes on a throwaway PostgreSQL and Redis; every speaker gets the alert, and
    // every speaker of the killed node is back on the other (or a line saying what is missing).
    timeoutMs: 120_000,
    figures: [
      re(String.raw`(\d+) speakers over 2 nodes \(PostgreSQL \+ Redis\), \d+ worker processes: connected in NUM s \(0 failed|skipped: .+`),
      re(String.raw`alert to (\d+): receipt at \1/\1 connected: p50 NUM ms, p95 NUM ms|skipped: .+`),
      re(String.raw`node 2 killed: (\d+)/\1 of its speakers back on node 1, the last at NUM s|skipped: .+`),
    ],
  },
  'cli-startup.mjs': { timeoutMs: 30_000, figures: [re(String.raw`loalang --help: median NUM ms, p90 NUM ms, max NUM ms \(\d+ runs\)`)] },
  'device-list.mjs': { timeoutMs: 60_000, figures: [re(String.raw`^(?:.*p50 NUM ms, p99 NUM ms, max NUM ms, errors 0; server event-loop delay p99 NUM ms, max NUM ms\n){5}`, 'm')] },
  'frozen-subscriber.mjs': {
    // Every speaker gets the alert with one of them frozen, and the frozen one is cut.
    timeoutMs: 60_000,
    figures: [
      re(String.raw`nobody frozen +: POST answered in NUM ms; receipt at (\d+)/\1: p50 NUM ms, p95 NUM ms`),
      re(String.raw`one speaker frozen +: POST answered in NUM ms; receipt at (\d+)/\1: p50 NUM ms, p95 NUM ms`),
      re(String.raw`the frozen speaker was cut NUM ms after its socket was full`),
    ],
  },
  'live-events.mjs': {
    timeoutMs: 60_000,
    figures: [re(String.raw`(?:server CPU NUM % of one core[^]*?){2}`), re(String.raw`(?:console: \d+ device updates, \d+ batches, NUM KiB/s each; lag p50 \d+ ms[^]*?){4}`)],
  },
  'live.mjs': {
    timeoutMs: 90_000,
    figures: [re(String.raw`N=\s*2: mouth→horn p50 NUM ms, p95 NUM ms; skew p50 NUM ms, p95 NUM ms, max NUM ms \(clock error p95 NUM ms\); late NUM %, missing NUM %; delivery p50 NUM ms, p95 NUM ms`)],
  },
  'media-ingest.mjs': { timeoutMs: 60_000, figures: [re(String.raw`\d+ s of audio: ingest NUM s \(\d+× real time\); MP3 NUM MB → Opus NUM MB; input NUM LUFS → NUM`)] },
  'report-ingest.mjs': {
    // Every report must be stored: a bench whose reports are all refused measures nothing.
    timeoutMs: 30_000,
    figures: [re(String.raw`new reports\s*: (\d+) reports acknowledged in NUM s = \d+ reports/s; rows stored: \1\n`), re(String.raw`resent \(no-op\)\s*: (\d+) reports acknowledged in NUM s = \d+ reports/s; rows stored: \1\n`)],
  },
  'report-ingest-fleet.mjs': {
    // Both databases in one run (PostgreSQL in its own throwaway cluster, or a line saying why
    // not); every report of a round stored once (after a warm-up round), and the resend adds no row.
    timeoutMs: 90_000,
    figures: [
      re(String.raw`sqlite +new reports 1 : (\d+) reports acknowledged \(\d+ ack messages\) in NUM s = \d+ reports/s; rows added: \1, stored: \d+;`),
      re(String.raw`sqlite +resent \(no-op\): \d+ reports acknowledged \(\d+ ack messages\) in NUM s = \d+ reports/s; rows added: 0, stored: \d+;`),
      re(String.raw`sqlite +new reports: median of \d+ round\(s\) \d+ reports/s`),
      re(String.raw`postgres +new reports 1 : (\d+) reports acknowledged \(\d+ ack messages\) in NUM s = \d+ reports/s; rows added: \1, stored: \d+;|PostgreSQL skipped \(.+\)`),
      re(String.raw`postgres +resent \(no-op\): \d+ reports acknowledged \(\d+ ack messages\) in NUM s = \d+ reports/s; rows added: 0, stored: \d+;|PostgreSQL skipped \(.+\)`),
    ],
  },
  'restart-storm.mjs': {
    // Every speaker back after the server's restart (the same number as connected before).
    timeoutMs: 60_000,
    figures: [re(String.raw`(\d+) speakers, \d+ worker processes: connected in NUM s \(0 failed`), re(String.raw`restart: stopped in NUM s, serving again at NUM s; (\d+)/\1 speakers back, the last at NUM s`)],
  },
  'soak.mjs': {
    // The smoke soak lasts a minute of real time: every report of its three passes stored once.
    timeoutMs: 150_000,
    figures: [
      re(String.raw`server RSS: NUM → NUM MiB \(max NUM\); slope over the last two thirds NUM MiB/h`),
      re(String.raw`event-loop delay p99 per NUM-s window: median NUM ms, p95 NUM ms, worst NUM ms`),
      re(String.raw`SQLite: NUM → NUM MiB; WAL at most NUM MiB`),
      re(String.raw`speakers: \d+ health messages, \d+ desired states taken, (\d+) reports sent, \1 acknowledged, \1 stored \(\1 distinct plays\), 0 refused`),
    ],
  },
  'outbox.mjs': {
    timeoutMs: 60_000,
    figures: [
      re(String.raw`reference: plain fetch POSTs, one at a time: (\d+) in NUM s = NUM/s`),
      re(String.raw`outbox, 1 channel: written (\d+) in NUM s = NUM/s; sent \1/\1 in NUM s = NUM/s; written → delivered p50 NUM ms, p95 NUM ms`),
      re(String.raw`outbox, 8 channels: written (\d+) in NUM s = NUM/s; sent \1/\1 in NUM s = NUM/s`),
      re(String.raw`outbox, written one every 5 ms and sent as written: (\d+)/\1 in NUM s; written → delivered p50 NUM ms, p95 NUM ms, max NUM ms`),
    ],
  },
  'serial-roundtrip.mjs': { timeoutMs: 30_000, tool: 'socat', figures: [re('115200 baud: STATUS round trip p50 NUM ms, p99 NUM ms'), re('9600 baud: STATUS round trip p50 NUM ms, p99 NUM ms')] },
  'signing.mjs': { timeoutMs: 30_000, figures: [re(String.raw`command +\d+ +\d+ +\d+`), re(String.raw`desired, 100 plays +\d+ +\d+ +\d+`), re(String.raw`alert, 64 KiB inline +\d+ +\d+ +\d+`)] },
  'start-accuracy.mjs': {
    timeoutMs: 90_000,
    figures: [
      re(String.raw`reports: (\d+), completed: \1\n`),
      re('actual − planned start .*: p50 NUM ms, p99 NUM ms'),
      re('pre-spawned output → first sample out: p50 NUM ms'),
      re('spawned at the instant → first sample out: p50 NUM ms'),
    ],
  },
  'stream-relay.mjs': { timeoutMs: 60_000, figures: [re(String.raw`clean stream\s*: relayed [\d, ]+ ms of the \d+ ms window; window lasted [\d, ]+ ms; drops [\d, ]+`), re(String.raw`cut once at NUM s: relayed [\d, ]+ ms of the \d+ ms window`)] },
};

/** The benchmarks as `npm run bench` runs them. */
const listed = execFileSync(process.execPath, ['bench/run.mjs', '--list'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);

/** Size variables a developer may have exported would defeat the smoke sizes. */
const SIZE_VARS = ['N', 'SECONDS', 'SIZES', 'WORKERS', 'CONSOLES', 'DURATION'];

interface BenchRun {
  code: number | null;
  signal: string | null;
  output: string;
  timedOut: boolean;
  /** From its spawn to its exit. */
  seconds: number;
}

function runBench(file: string, timeoutMs: number): Promise<BenchRun> {
  const t0 = performance.now();
  const env: NodeJS.ProcessEnv = { ...process.env, LOALANG_BENCH_SMOKE: '1', LOALANG_LOG_LEVEL: 'warn' };
  for (const v of SIZE_VARS) delete env[v];
  // Its own process group, so a timeout also ends the agents, workers and socat it started.
  const child = spawn(process.execPath, [`bench/${file}`], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }, timeoutMs);
  return new Promise((resolve) =>
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, timedOut, seconds: (performance.now() - t0) / 1000 });
    }),
  );
}

/**
 * Two benchmarks run at a time, in the order of their tests: most of a smoke run is waiting (for
 * a play's instant, an agent's idle seconds, a relay's window), and this file ran them one after
 * the other on a 2-core machine. Each keeps its own kill timer from its own spawn. Since the runs
 * start in test order, a test's run has started by the time the test begins, so a test waits at
 * most for its own run.
 */
const LANES = 2;
const runs = new Map<string, Promise<BenchRun>>();

describe('benchmarks at their smallest size (LOALANG_BENCH_SMOKE=1)', () => {
  beforeAll(({}, suite) => {
    // Only the benchmarks whose test will run (a -t filter or a missing tool skips some).
    const wanted = new Set(suite.tasks.filter((t) => t.type === 'test' && t.mode === 'run').map((t) => t.name));
    const queue = listed.filter((f) => BENCHES[f] && wanted.has(f));
    const settled = new Map<string, (r: BenchRun) => void>();
    for (const file of queue) runs.set(file, new Promise((resolve) => settled.set(file, resolve)));
    const lane = async () => {
      for (let file = queue.shift(); file; file = queue.shift()) settled.get(file)!(await runBench(file, BENCHES[file]!.timeoutMs));
    };
    for (let i = 0; i < LANES; i++) void lane();
  });

  it('every benchmark npm run bench offers is listed here with the figures it prints', () => {
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.filter((f) => !BENCHES[f]), 'add these to BENCHES in tests/bench-smoke.test.ts').toEqual([]);
  });

  for (const file of listed) {
    const smoke = BENCHES[file];
    if (!smoke) continue;
    const runnable = !smoke.tool || requireTool(smoke.tool);
    it.skipIf(!runnable)(
      file,
      async () => {
        const r = await runs.get(file)!;
        const context = `bench/${file} ${r.timedOut ? `timed out after ${smoke.timeoutMs} ms` : `exited ${r.code ?? r.signal}`}; its output:\n${r.output}`;
        expect(r.timedOut, context).toBe(false);
        expect(r.code, context).toBe(0);
        for (const figure of smoke.figures) expect(r.output, context).toMatch(figure);
        process.stdout.write(`bench/${file} smoke run: ${r.seconds.toFixed(1)} s\n`);
      },
      smoke.timeoutMs + 10_000,
    );
  }
});
