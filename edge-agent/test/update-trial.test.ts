/**
 * A release on trial (issue 20), on a real folder: one start for the new release; any start
 * after it before it confirmed (crash, watchdog, reboot, power cut) goes back to the confirmed
 * release with the reason; a stop at any step of installing leaves a box that starts a working
 * version; confirming moves `confirmed` and removes older releases.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoxLayout } from '../src/update/box-layout.js';
import { beginTrial, confirmTrial, failTrial, guardStart, markReported } from '../src/update/trial.js';
import { runUpdateGuard } from '../src/update/guard-command.js';

const T0 = Date.parse('2026-11-29T09:00:00Z');

describe('a release on trial', () => {
  let root: string;
  let box: BoxLayout;
  const release = (v: string) => mkdirSync(join(box.releaseDir(v), 'app'), { recursive: true });
  const trial = (version = '1.1.0') => beginTrial(box, { version, from: '1.0.0', deadline: T0 + 300_000, rolloutId: 'R1' });

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'loalang-box-'));
    box = new BoxLayout(root);
    release('1.0.0');
    release('1.1.0');
    box.setPointer('current', '1.0.0');
    box.setPointer('confirmed', '1.0.0');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('runs the confirmed release when nothing is on trial', () => {
    expect(guardStart(box, T0)).toEqual({ action: 'steady', version: '1.0.0' });
    expect(box.readState()).toEqual({ trial: null, last: null });
  });

  it('gives the new release one start; confirmed, it stays, and older releases go', () => {
    release('0.9.0');
    trial();
    expect(box.pointer('current')).toBe('1.1.0');
    expect(guardStart(box, T0 + 1000)).toEqual({ action: 'trial-start', version: '1.1.0', deadline: T0 + 300_000 });
    expect(confirmTrial(box, T0 + 60_000)).toMatchObject({ version: '1.1.0', from: '1.0.0', outcome: 'confirmed', rolloutId: 'R1', reported: false });
    expect([box.pointer('current'), box.pointer('confirmed')]).toEqual(['1.1.0', '1.1.0']);
    expect(readdirSync(box.releasesDir).sort()).toEqual(['1.0.0', '1.1.0']);
    expect(guardStart(box, T0 + 120_000)).toEqual({ action: 'steady', version: '1.1.0' });
    markReported(box);
    expect(box.readState().last).toMatchObject({ outcome: 'confirmed', reported: true });
  });

  it('a second start before confirming (a crash, the watchdog, a power cut) goes back, with the reason', () => {
    trial();
    guardStart(box, T0 + 1000);
    expect(guardStart(box, T0 + 5000)).toEqual({ action: 'rolled-back', version: '1.0.0', from: '1.1.0', reason: expect.stringContaining('restarted before confirming') });
    expect(box.pointer('current')).toBe('1.0.0');
    expect(box.readState()).toEqual({ trial: null, last: expect.objectContaining({ version: '1.1.0', outcome: 'rolled-back', rolloutId: 'R1', reported: false }) });
    // And it stays there.
    expect(guardStart(box, T0 + 9000)).toEqual({ action: 'steady', version: '1.0.0' });
  });

  it('a release that found itself unhealthy says why, and that is the reason recorded', () => {
    trial();
    guardStart(box, T0 + 1000);
    failTrial(box, 'audio path: ffmpeg exited with code 1');
    expect(guardStart(box, T0 + 200_000)).toMatchObject({ action: 'rolled-back', reason: 'audio path: ffmpeg exited with code 1' });
    expect(box.readState().last).toMatchObject({ reason: 'audio path: ffmpeg exited with code 1' });
  });

  it('a trial not started before its deadline (the box was off) is not started', () => {
    trial();
    expect(guardStart(box, T0 + 301_000)).toMatchObject({ action: 'rolled-back', version: '1.0.0', reason: 'not started before its deadline' });
  });

  it('stopped at each step of installing, the box starts a working version', () => {
    // After the trial was recorded, before the switch.
    box.writeState({ trial: { version: '1.1.0', from: '1.0.0', starts: 0, deadline: T0 + 300_000, rolloutId: 'R1' }, last: null });
    expect(guardStart(box, T0)).toEqual({ action: 'steady', version: '1.0.0' });
    expect(box.readState()).toEqual({ trial: null, last: expect.objectContaining({ outcome: 'rolled-back', reason: 'installation stopped before the switch' }) });
    // Half-way through a roll-back: the pointer back, the state not yet written.
    trial();
    guardStart(box, T0 + 1000);
    box.setPointer('current', '1.0.0');
    expect(guardStart(box, T0 + 2000)).toEqual({ action: 'steady', version: '1.0.0' });
    expect(box.readState().last).toMatchObject({ outcome: 'rolled-back', reason: expect.stringContaining('restarted before confirming') });
    // `current` moved with no trial at all (a person's mistake): back to the confirmed release.
    box.setPointer('current', '1.1.0');
    expect(guardStart(box, T0 + 3000)).toMatchObject({ action: 'rolled-back', version: '1.0.0', from: '1.1.0' });
  });

  it('the pointers are symlinks into releases/, replaced whole; a leftover temporary link is no trouble', () => {
    symlinkSync('releases/nowhere', join(root, `.current.${process.pid}.tmp`));
    box.setPointer('current', '1.1.0');
    expect(box.pointer('current')).toBe('1.1.0');
    expect(existsSync(join(root, 'current', 'app'))).toBe(true);
  });

  it('the guard command never blocks the start: a missing root or a broken state still exits 0', () => {
    expect(runUpdateGuard(['--root', join(root, 'nope')], T0)).toBe(0);
    expect(runUpdateGuard(['--bogus'], T0)).toBe(0);
    expect(runUpdateGuard(['--root', root], T0)).toBe(0);
  });
});
