/**
 * A new release's health check (issue 20): connected, a programme received, the amplifier
 * answering, and half a second of silence through the real ffmpeg into the audio output the
 * plays use — a test sink's folder made on first use, as the sink itself does, and nothing left in it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { locateFfmpeg } from '../src/playback/ffmpeg.js';
import { updateHealth, type HealthFacts } from '../src/update/health-check.js';

const dir = mkdtempSync(join(tmpdir(), 'loalang-health-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function facts(over: Partial<HealthFacts> = {}): HealthFacts {
  return {
    connected: () => true,
    programmeReceived: () => true,
    amplifier: { status: () => Promise.resolve({} as never) },
    ffmpeg: locateFfmpeg(),
    sink: { kind: 'file', dir: join(dir, 'sink-not-yet-made') },
    scratchDir: dir,
    ...over,
  };
}

describe('update health check', () => {
  it('healthy: the silent test goes through a file sink whose folder is not made yet, and leaves nothing', async () => {
    expect(await updateHealth(facts())).toBeNull();
    expect(readdirSync(join(dir, 'sink-not-yet-made'))).toEqual([]);
  });

  it('says what is wrong, first thing first', async () => {
    expect(await updateHealth(facts({ connected: () => false }))).toBe('not connected to the server');
    expect(await updateHealth(facts({ programmeReceived: () => false }))).toBe('no programme received from the server yet');
    expect(await updateHealth(facts({ amplifier: { status: () => Promise.reject(new Error('no answer on /dev/ttyUSB0')) } }))).toBe('the amplifier board does not answer: no answer on /dev/ttyUSB0');
    expect(await updateHealth(facts({ ffmpeg: join(dir, 'no-ffmpeg') }))).toMatch(/^audio path: /);
    expect(await updateHealth(facts({ sink: { kind: 'null' } }))).toBeNull();
    expect(existsSync(join(dir, '.update-health-check.wav'))).toBe(false);
  });
});
