/**
 * The microphone of a live announcement (issue 18, decision 0025): getUserMedia, an AudioWorklet
 * that cuts the samples into 20 ms frames (public/live-capture.js), WebCodecs' Opus encoder, and
 * the session's feed socket (one frame per message: its index, then the packet). A browser
 * without the encoder sends 16 kHz samples instead and the server encodes them. While muted the
 * frames are silence: the session keeps its time and does not end for want of audio.
 */
import type { LiveFeedEvent } from './api.js';

export interface MicCallbacks {
  /** The microphone's level, 0–1, every 20 ms. */
  onLevel(level: number): void;
  onEvent(event: LiveFeedEvent): void;
  /** The socket closed: `ended` when the server said the session ended. */
  onClose(ended: boolean): void;
}

export interface Mic {
  setMuted(muted: boolean): void;
  /** Asks the server to end the session; the socket closes when it has. */
  end(): void;
  /** Stops the microphone and closes everything, at once. */
  close(): void;
}

/** Why the microphone cannot be used here, if it cannot (before asking for it). */
export function micUnavailable(): 'insecure' | 'unsupported' | null {
  if (!globalThis.isSecureContext) return 'insecure';
  if (!navigator.mediaDevices?.getUserMedia || typeof AudioWorkletNode === 'undefined') return 'unsupported';
  return null;
}

interface OpusConfig {
  codec: 'opus';
  sampleRate: number;
  numberOfChannels: number;
  bitrate: number;
  opus: { frameDuration: number; application: 'voip' };
}

const OPUS: OpusConfig = { codec: 'opus', sampleRate: 48_000, numberOfChannels: 1, bitrate: 24_000, opus: { frameDuration: 20_000, application: 'voip' } };

async function opusSupported(): Promise<boolean> {
  if (typeof AudioEncoder === 'undefined') return false;
  try {
    return (await AudioEncoder.isConfigSupported(OPUS as unknown as AudioEncoderConfig)).supported === true;
  } catch {
    return false;
  }
}

/** Opens the microphone and the feed socket (`feedPath` with its ticket); resolves once both are open. */
export async function startMic(feedPath: string, ticket: string, on: MicCallbacks): Promise<Mic> {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
  const webCodecs = await opusSupported();
  const rate = webCodecs ? 48_000 : 16_000;
  const frameSamples = rate / 50;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}${feedPath}?ticket=${encodeURIComponent(ticket)}${webCodecs ? '' : '&format=pcm16k'}`);
  socket.binaryType = 'arraybuffer';
  // Listened for at once: it may open while the audio graph is being built below.
  const opened = new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error('the feed socket did not open'));
  });
  let ended = false;
  socket.onmessage = (m) => {
    if (typeof m.data !== 'string') return;
    const event = JSON.parse(m.data) as LiveFeedEvent;
    if (event.type === 'ended') ended = true;
    on.onEvent(event);
  };
  const send = (index: number, payload: Uint8Array) => {
    if (socket.readyState !== WebSocket.OPEN) return;
    const message = new Uint8Array(4 + payload.length);
    new DataView(message.buffer).setUint32(0, index);
    message.set(payload, 4);
    socket.send(message);
  };
  const encoder = webCodecs
    ? new AudioEncoder({
        output: (chunk) => {
          const bytes = new Uint8Array(chunk.byteLength);
          chunk.copyTo(bytes);
          send(Math.round(chunk.timestamp / 20_000), bytes);
        },
        error: () => socket.close(),
      })
    : null;
  encoder?.configure(OPUS as unknown as AudioEncoderConfig);

  const context = new AudioContext({ sampleRate: rate });
  // Created after the click's awaits: a browser may start it suspended.
  if (context.state === 'suspended') await context.resume().catch(() => undefined);
  await context.audioWorklet.addModule('/live-capture.js');
  const capture = new AudioWorkletNode(context, 'loa-capture', { processorOptions: { frameSamples } });
  context.createMediaStreamSource(stream).connect(capture);
  // Pulled by the graph, so it runs; it outputs nothing.
  capture.connect(context.destination);
  let muted = false;
  let index = 0;
  const closeAll = () => {
    capture.port.onmessage = null;
    for (const track of stream.getTracks()) track.stop();
    void context.close().catch(() => undefined);
    if (encoder && encoder.state !== 'closed') encoder.close();
  };

  try {
    await opened;
  } catch (err) {
    closeAll();
    throw err;
  }
  socket.onclose = () => {
    closeAll();
    on.onClose(ended);
  };
  capture.port.onmessage = (m: MessageEvent<Float32Array<ArrayBuffer>>) => {
    const frame = m.data;
    let sum = 0;
    for (const x of frame) sum += x * x;
    on.onLevel(muted ? 0 : Math.min(1, Math.sqrt(sum / frame.length) * 4));
    if (muted) frame.fill(0);
    const at = index++;
    if (encoder) {
      const data = new AudioData({ format: 'f32-planar', sampleRate: rate, numberOfFrames: frame.length, numberOfChannels: 1, timestamp: at * 20_000, data: frame });
      encoder.encode(data);
      data.close();
    } else {
      // s16le on the wire, whatever this machine's byte order.
      const bytes = new Uint8Array(frame.length * 2);
      const view = new DataView(bytes.buffer);
      frame.forEach((x, i) => view.setInt16(i * 2, Math.max(-32768, Math.min(32767, Math.round(x * 32767))), true));
      send(at, bytes);
    }
  };
  return {
    setMuted: (m) => (muted = m),
    end: () => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'end' }));
    },
    close: () => {
      closeAll();
      socket.close();
    },
  };
}
