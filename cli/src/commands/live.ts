/**
 * `loalang live`: speaks a studio line or a file to the speakers of some areas, live (issue 18).
 * ffmpeg reads the input (an ALSA capture device, in real time; a file, paced to real time with
 * -re) as 48 kHz mono samples; each 20 ms is encoded to Opus (libopus in WebAssembly, the same
 * library the speakers decode with) and sent over the session's feed socket with its index. The
 * session is prepared with the caller's credentials, as `device add` takes them; it ends when
 * the file ends, on Ctrl-C, or when the server ends it.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import OpusScript from 'opusscript';
import WebSocket from 'ws';
import { locateFfmpeg } from '@loalang/edge-agent';
import { apiToken, intOption, parse } from './util.js';

const USAGE = 'usage: loalang live --area AREA_ID [--area AREA_ID…] --input alsa:DEVICE|FILE [--server URL] [--priority priority|emergency] [--title TEXT] [--volume 0-100] [--ca FILE]\n';
const FRAME_SAMPLES = 960;
const FRAME_BYTES = FRAME_SAMPLES * 2;

interface Prepared {
  session: { id: string };
  ticket: string;
  speakers: number;
  feedPath: string;
}
type FeedEvent = { type: string; session?: { endReason: string | null; lastIndex: number }; speaker?: { deviceId: string; state: string }; error?: { message: string; messageVi: string } };

/** ffmpeg's input arguments: a capture device as it comes, a file paced to real time. */
export function inputArgs(input: string): string[] {
  if (input.startsWith('alsa:')) return ['-f', 'alsa', '-i', input.slice(5) || 'default'];
  return ['-re', '-i', input];
}

export async function run(args: string[]): Promise<number> {
  const { values } = parse(args, {
    server: { type: 'string', default: 'http://127.0.0.1:8080' },
    area: { type: 'string', multiple: true },
    input: { type: 'string' },
    priority: { type: 'string', default: 'priority' },
    title: { type: 'string' },
    volume: { type: 'string' },
    ca: { type: 'string' },
  });
  const areas = (values.area as string[] | undefined) ?? [];
  const priority = String(values.priority);
  if (areas.length === 0 || !values.input || !['priority', 'emergency'].includes(priority)) {
    process.stderr.write(USAGE);
    return 2;
  }
  const server = String(values.server).replace(/\/$/, '');
  const res = await fetch(`${server}/api/v1/live`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await apiToken(server)}` },
    body: JSON.stringify({ areaIds: areas, priority, ...(values.title ? { title: values.title } : {}), ...(values.volume !== undefined ? { volume: intOption(values.volume, 'volume') } : {}) }),
  });
  const body = (await res.json()) as Prepared & { error?: { message: string; messageVi: string } };
  if (!res.ok) {
    process.stderr.write(`loalang: ${body.error?.messageVi ?? ''} / ${body.error?.message ?? res.statusText}\n`);
    return 1;
  }
  const socket = new WebSocket(`${server.replace(/^http/, 'ws')}${body.feedPath}?ticket=${body.ticket}`, values.ca ? { ca: readFileSync(String(values.ca)) } : {});
  const ended = new Promise<FeedEvent | null>((resolve) => {
    socket.on('message', (data) => {
      const event = JSON.parse(data.toString()) as FeedEvent;
      if (event.type === 'open') process.stderr.write(`Đang phát trực tiếp tới ${body.speakers} loa / live to ${body.speakers} speakers (session ${body.session.id})\n`);
      else if (event.type === 'speaker' && event.speaker) process.stderr.write(`  ${event.speaker.deviceId}: ${event.speaker.state}\n`);
      else if (event.type === 'error') process.stderr.write(`loalang: ${event.error?.messageVi ?? ''} / ${event.error?.message ?? ''}\n`);
      else if (event.type === 'ended') resolve(event);
    });
    socket.once('close', () => resolve(null));
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });

  const ffmpeg = spawn(locateFfmpeg(), ['-hide_banner', '-nostdin', '-v', 'error', ...inputArgs(String(values.input)), '-map', '0:a:0', '-f', 's16le', '-ar', '48000', '-ac', '1', 'pipe:1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const opus = new OpusScript(48000, 1, OpusScript.Application.VOIP);
  opus.setBitrate(24_000);
  let pending = Buffer.alloc(0);
  let index = 0;
  ffmpeg.stdout.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= FRAME_BYTES) {
      const packet = Buffer.from(opus.encode(pending.subarray(0, FRAME_BYTES), FRAME_SAMPLES));
      pending = pending.subarray(FRAME_BYTES);
      const message = Buffer.alloc(4 + packet.length);
      message.writeUInt32BE(index++, 0);
      packet.copy(message, 4);
      if (socket.readyState === WebSocket.OPEN) socket.send(message);
    }
  });
  const finish = () => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'end' }));
  };
  const inputDone = new Promise<number | null>((resolve) => ffmpeg.once('close', (code) => resolve(code)));
  const stop = () => {
    ffmpeg.kill('SIGTERM');
    finish();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  void inputDone.then(finish);
  const end = await ended;
  ffmpeg.kill('SIGTERM');
  opus.delete();
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  const code = await inputDone;
  if (!end) {
    process.stderr.write('loalang: the server closed the feed / máy chủ đã đóng kết nối phát\n');
    return 1;
  }
  process.stderr.write(`Kết thúc phát trực tiếp / live announcement ended (${end.session?.endReason ?? 'ended'}, ${(((end.session?.lastIndex ?? -1) + 1) * 0.02).toFixed(1)} s)\n`);
  return code === 0 || code === null || code === 255 ? 0 : 1;
}
