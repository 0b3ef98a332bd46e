/** The agent's side of systemd's watchdog (issue 20): READY once, WATCHDOG=1 at half the period; nothing without NOTIFY_SOCKET. */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '@loalang/protocol';
import { serviceWatchdog } from '../src/health/watchdog.js';

describe('the service watchdog', () => {
  it('says READY, then feeds at half of WATCHDOG_USEC until stopped', () => {
    const clock = new ManualClock();
    const said: string[] = [];
    const w = serviceWatchdog({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '60000000' }, clock, (s) => said.push(s));
    w.ready();
    clock.advance(95_000);
    expect(said).toEqual(['READY=1', 'WATCHDOG=1', 'WATCHDOG=1', 'WATCHDOG=1']);
    w.stop();
    clock.advance(120_000);
    expect(said.at(-1)).toBe('STOPPING=1');
    expect(said).toHaveLength(5);
  });

  it('says only READY without a watchdog, and nothing at all outside a service manager', () => {
    const clock = new ManualClock();
    const said: string[] = [];
    serviceWatchdog({ NOTIFY_SOCKET: '/run/x' }, clock, (s) => said.push(s)).ready();
    serviceWatchdog({}, clock, (s) => said.push(`outside ${s}`)).ready();
    clock.advance(600_000);
    expect(said).toEqual(['READY=1']);
  });
});
