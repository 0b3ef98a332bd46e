/**
 * For a browser without WebCodecs' Opus encoder (decision 0025): its feed sends 20 ms of 16 kHz
 * mono samples (s16le, 640 bytes) per message and the node encodes them with libopus (the
 * library the speakers decode with), at the bitrate a browser's encoder would use.
 */
import OpusScript from 'opusscript';
import { brokerError } from '../errors.js';

export const PCM_FEED_RATE = 16_000;
/** Samples of one 20 ms frame at PCM_FEED_RATE, and their bytes. */
export const PCM_FEED_FRAME_SAMPLES = 320;
export const PCM_FEED_FRAME_BYTES = PCM_FEED_FRAME_SAMPLES * 2;

export class LivePcmEncoder {
  private readonly opus = new OpusScript(PCM_FEED_RATE, 1, OpusScript.Application.VOIP);

  constructor(bitrate = 24_000) {
    this.opus.setBitrate(bitrate);
  }

  /** One frame's samples to one Opus packet. */
  encode(pcm: Buffer): Buffer {
    if (pcm.length !== PCM_FEED_FRAME_BYTES) {
      throw brokerError('LOA_ERR_INVALID', { en: `a PCM frame is ${PCM_FEED_FRAME_BYTES} bytes (20 ms of 16 kHz mono s16le), not ${pcm.length}`, vi: `một khung PCM dài ${PCM_FEED_FRAME_BYTES} byte (20 ms, 16 kHz, mono, s16le), không phải ${pcm.length}` });
    }
    return Buffer.from(this.opus.encode(pcm, PCM_FEED_FRAME_SAMPLES));
  }

  close(): void {
    this.opus.delete();
  }
}
