/**
 * What the edge agent needs from an amplifier board, whatever drives it
 * (our framed serial protocol, a Modbus relay board, or the in-process simulator).
 */
export interface AmpStatus {
  power: boolean;
  /** Board temperature in °C, when the board measures it. */
  temperatureC?: number;
  /** Output current in mA, when measured. */
  currentMa?: number;
  volumeDb?: number;
  muted?: boolean;
  /** Active fault names, e.g. 'over-temperature', 'speaker-line', 'mains-lost', 'tamper'. */
  faults: string[];
  firmwareVersion?: string;
  uptimeSec?: number;
}

export interface LinkCounters {
  framesSent: number;
  framesReceived: number;
  crcErrors: number;
  timeouts: number;
  retries: number;
  reconnects: number;
}

export type AmpEvent =
  | { type: 'fault'; fault: string; active: boolean }
  | { type: 'link'; up: boolean };

export interface AmplifierController {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Switches the amplifier on; resolves once the board acknowledges (soft-start included). */
  powerOn(): Promise<void>;
  powerOff(): Promise<void>;
  setVolume(db: number): Promise<void>;
  status(): Promise<AmpStatus>;
  counters(): LinkCounters;
  on(event: 'event', listener: (e: AmpEvent) => void): this;
  off(event: 'event', listener: (e: AmpEvent) => void): this;
}
