/** Builds the periodic health message; fields that cannot be measured are left out. */
import { statfs } from 'node:fs/promises';
import type { AmplifierController } from '@loalang/firmware-bridge';
import type { Telemetry } from '@loalang/protocol';
import { AGENT_VERSION } from '../version.js';
import { readHostHealth } from './host-health.js';

export async function buildTelemetry(d: {
  amplifier: AmplifierController;
  cacheDir: string;
  startedAt: number;
  now: number;
  desiredVersion: number;
  playing: string | null;
  outboxPending: number;
  cacheBytes: number;
  clockOffsetMs: number | undefined;
  agentVersion?: string;
}): Promise<Telemetry> {
  const t: Telemetry = {
    v: 1,
    at: new Date(d.now).toISOString(),
    agentVersion: d.agentVersion ?? AGENT_VERSION,
    uptimeSec: Math.floor((d.now - d.startedAt) / 1000),
    desiredVersion: d.desiredVersion,
    playing: d.playing,
    outboxPending: d.outboxPending,
    cacheBytes: d.cacheBytes,
    ...(d.clockOffsetMs !== undefined ? { clockOffsetMs: d.clockOffsetMs } : {}),
    ...(await readHostHealth()),
    serial: d.amplifier.counters(),
  };
  try {
    const fs = await statfs(d.cacheDir);
    t.diskFreeBytes = fs.bavail * fs.bsize;
    t.diskTotalBytes = fs.blocks * fs.bsize;
  } catch {
    /* not measurable here */
  }
  try {
    const s = await d.amplifier.status();
    t.amp = { power: s.power, faults: s.faults, linkOk: true, ...(s.temperatureC !== undefined ? { temperatureC: s.temperatureC } : {}), ...(s.currentMa !== undefined ? { currentMa: s.currentMa } : {}) };
  } catch {
    t.amp = { power: false, faults: [], linkOk: false };
  }
  return t;
}
