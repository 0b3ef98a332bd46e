// Stream relay: a local Icecast-like 64 kb/s MP3 stream, relayed for an 8 s window into a WAV
// by the agent's sink, 5 times clean and 5 times with the stream cut after 2.5 s. Prints the
// delay to the first relayed sample, the audio relayed and the window's actual length.
// LOALANG_BENCH_SMOKE=1: once each, a 3 s window cut at 1 s (checks the bench still runs).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FfmpegSink } from '../edge-agent/dist/index.js';
import { locateFfmpeg } from '../edge-agent/dist/playback/ffmpeg.js';

const SMOKE = process.env.LOALANG_BENCH_SMOKE === '1';
const RUNS = SMOKE ? 1 : 5;
const WINDOW_MS = SMOKE ? 3000 : 8000;
const CUT_MS = SMOKE ? 1000 : 2500;
if (SMOKE) console.log('(smoke run: smallest size, figures not comparable)');
const ffmpeg = locateFfmpeg(); // as the agent finds it: LOALANG_FFMPEG, PATH, else npm-shipped

const dir = mkdtempSync(join(tmpdir(), 'loalang-bench-relay-'));
const mp3 = join(dir, 'station.mp3');
execFileSync(ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=30', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '64k', mp3]);
const data = readFileSync(mp3);
let cutNext = null;
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'audio/mpeg' });
  let offset = 0;
  const send = () => {
    res.write(data.subarray(offset, offset + 800));
    offset = (offset + 800) % data.length;
  };
  for (let i = 0; i < 5; i++) send();
  const tick = setInterval(send, 100);
  const cut = cutNext;
  cutNext = null;
  const t = cut ? setTimeout(() => res.destroy(), cut) : null;
  res.on('close', () => {
    clearInterval(tick);
    if (t) clearTimeout(t);
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/live.mp3`;
const sink = new FfmpegSink(ffmpeg, { kind: 'file', dir });

for (const cut of [null, CUT_MS]) {
  const rows = [];
  for (let i = 0; i < RUNS; i++) {
    cutNext = cut;
    const id = `r${cut ?? 0}-${i}`;
    const prepared = sink.prepare({ streamUrl: url, untilMs: Date.now() + 500 + WINDOW_MS }, { playId: id, volume: 100 });
    await new Promise((r) => setTimeout(r, 500)); // the warm-up
    const t0 = Date.now();
    const o = await prepared.start().done;
    rows.push({ relayed: o.playedMs, window: Date.now() - t0, drops: o.drops, wavMs: Math.round((statSync(join(dir, `${id}.wav`)).size - 78) / 96) });
  }
  const f = (k) => rows.map((r) => r[k]).join(', ');
  console.log(`${cut ? `cut once at ${cut / 1000} s` : 'clean stream     '}: relayed ${f('relayed')} ms of the ${WINDOW_MS} ms window; window lasted ${f('window')} ms; drops ${f('drops')}`);
  // Air time lost to connecting is the window minus what was relayed when nothing dropped.
}
server.close();
rmSync(dir, { recursive: true, force: true });
