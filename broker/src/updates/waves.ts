/**
 * A rollout's waves (issue 20): which devices get a release when, and whether the rollout may go
 * on. Pure functions over states, so the rules read in one place and are tested without a server.
 */
import { createHash } from 'node:crypto';
import type { UpdateDeviceState } from '@loalang/protocol';

/** Device states after which a device has nothing more to do in a rollout. */
export const FINAL_UPDATE_STATES: readonly UpdateDeviceState[] = ['confirmed', 'failed', 'rolled-back', 'refused', 'withdrawn'];
/** The final states that count against the release. */
export const FAILED_UPDATE_STATES: readonly UpdateDeviceState[] = ['failed', 'rolled-back', 'refused'];

/**
 * Splits devices into waves by cumulative percentages (e.g. 1, 10, 100): wave k holds the devices
 * up to ceil(p_k % of all), at least one more than the wave before while any are left. The order
 * is a hash of the rollout's id and the device's, so it is stable for a rollout and differs
 * between rollouts (the same boxes are not always the first).
 */
export function planWaves(deviceIds: readonly string[], percents: readonly number[], seed: string): string[][] {
  const order = [...new Set(deviceIds)].sort((a, b) => {
    const ha = createHash('sha256').update(`${seed}\u0000${a}`).digest('hex');
    const hb = createHash('sha256').update(`${seed}\u0000${b}`).digest('hex');
    return ha < hb ? -1 : ha > hb ? 1 : 0;
  });
  const waves: string[][] = [];
  let taken = 0;
  percents.forEach((p, i) => {
    const upTo = i === percents.length - 1 ? order.length : Math.min(order.length, Math.max(taken + 1, Math.ceil((p / 100) * order.length)));
    if (upTo > taken) waves.push(order.slice(taken, upTo));
    taken = Math.max(taken, upTo);
  });
  return waves;
}

export interface WaveDevice {
  state: UpdateDeviceState;
  /**
   * Connected now: a device away holds no wave back, and gets its offer when it is back — unless
   * it has installed the release: it is away because it is restarting into it, and the wave waits
   * for its confirmation or roll-back (a box silent too long after installing is failed by the tick).
   */
  online: boolean;
}

export type WaveVerdict =
  | { kind: 'wait'; open: number }
  | { kind: 'next' }
  | { kind: 'halt'; failed: number; of: number };

/**
 * Whether the wave is healthy enough for the next to start: every device that is online (or
 * restarting into the release) has finished, at least one has confirmed the release (a wave of boxes all away proves nothing),
 * and the failures stay within `threshold` (a fraction of the wave). Failures past it halt the
 * rollout at once, without waiting for the rest of the wave.
 */
export function judgeWave(devices: readonly WaveDevice[], threshold: number): WaveVerdict {
  const failed = devices.filter((d) => FAILED_UPDATE_STATES.includes(d.state)).length;
  if (devices.length > 0 && failed / devices.length > threshold) return { kind: 'halt', failed, of: devices.length };
  const open = devices.filter((d) => (d.online || d.state === 'installed') && !FINAL_UPDATE_STATES.includes(d.state)).length;
  const confirmed = devices.filter((d) => d.state === 'confirmed').length;
  return open > 0 || confirmed === 0 ? { kind: 'wait', open } : { kind: 'next' };
}
