/** The command table as data: ids, payload encoders and the board's status layout. */
import type { AmpStatus } from './amplifier.js';

export const CMD = {
  HELLO: 0x01,
  POWER: 0x02,
  ZONES: 0x03,
  VOLUME: 0x04,
  MUTE: 0x05,
  STATUS: 0x06,
  TEST_TONE: 0x07,
  HEARTBEAT: 0x08,
  SET_FAILSAFE: 0x09,
  ACK: 0x80,
  NACK: 0x81,
  EVENT: 0x90,
} as const;

export const PROTOCOL_VERSION = 1;

export const NACK_CODES: Record<number, string> = {
  1: 'unknown-command',
  2: 'bad-length',
  3: 'bad-value',
  4: 'busy',
  5: 'fault-active',
};

export const FAULTS: Record<number, string> = {
  1: 'over-temperature',
  2: 'speaker-line',
  3: 'mains-lost',
  4: 'tamper',
  5: 'failsafe-off',
};

/** Status flags byte. */
const FLAG = { speakerLine: 0x01, mainsLost: 0x02, tamper: 0x04, overTemp: 0x08 } as const;

/** Volume travels in 0.5 dB steps as a signed 16-bit integer: −80.0 … 0.0 dB. */
export const VOLUME_MIN_DB = -80;
export function encodeVolume(db: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(Math.round(db * 2));
  return b;
}

export const STATUS_LENGTH = 17;

export interface RawStatus {
  power: boolean;
  zones: number;
  volumeDb: number;
  muted: boolean;
  temperatureC: number;
  currentMa: number;
  speakerLineFault: boolean;
  mainsLost: boolean;
  tamper: boolean;
  overTemperature: boolean;
  uptimeSec: number;
  firmware: [number, number];
}

export function encodeStatus(s: RawStatus): Buffer {
  const b = Buffer.alloc(STATUS_LENGTH);
  b[0] = s.power ? 1 : 0;
  b[1] = s.zones & 0xff;
  b.writeInt16BE(Math.round(s.volumeDb * 2), 2);
  b[4] = s.muted ? 1 : 0;
  b.writeInt16BE(Math.round(s.temperatureC * 10), 5);
  b.writeUInt16BE(Math.max(0, Math.min(0xffff, Math.round(s.currentMa))), 7);
  b[9] = (s.speakerLineFault ? FLAG.speakerLine : 0) | (s.mainsLost ? FLAG.mainsLost : 0) | (s.tamper ? FLAG.tamper : 0) | (s.overTemperature ? FLAG.overTemp : 0);
  b.writeUInt32BE(s.uptimeSec >>> 0, 10);
  b[14] = s.firmware[0];
  b[15] = s.firmware[1];
  b[16] = PROTOCOL_VERSION;
  return b;
}

export function decodeStatus(b: Buffer): AmpStatus {
  if (b.length < STATUS_LENGTH) throw new RangeError(`status payload of ${b.length} bytes`);
  const flags = b[9]!;
  const faults: string[] = [];
  if (flags & FLAG.overTemp) faults.push('over-temperature');
  if (flags & FLAG.speakerLine) faults.push('speaker-line');
  if (flags & FLAG.mainsLost) faults.push('mains-lost');
  if (flags & FLAG.tamper) faults.push('tamper');
  return {
    power: b[0] === 1,
    volumeDb: b.readInt16BE(2) / 2,
    muted: b[4] === 1,
    temperatureC: b.readInt16BE(5) / 10,
    currentMa: b.readUInt16BE(7),
    faults,
    firmwareVersion: `${b[14]}.${b[15]}`,
    uptimeSec: b.readUInt32BE(10),
  };
}
