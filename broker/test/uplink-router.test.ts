import { describe, expect, it } from 'vitest';
import type { Logger, MessageOf } from '@loalang/protocol';
import { UplinkRouter } from '../src/mqtt/uplink-router.js';
import type { UplinkMessage } from '../src/mqtt/contracts.js';

function recordingLogger(): Logger & { lines: { level: string; msg: string; obj: unknown }[] } {
  const lines: { level: string; msg: string; obj: unknown }[] = [];
  const at = (level: string) => (obj: unknown, msg?: string) => void lines.push({ level, msg: msg ?? '', obj });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as Logger & { lines: typeof lines };
}

const refusal: MessageOf<'refused'> = { v: 1, at: '2026-11-28T00:00:00.000Z', kind: 'desired', reason: 'bad-signature' };
const msg = (kind: 'refused' | 'event', deviceId = 'd1'): UplinkMessage =>
  kind === 'refused'
    ? { kind, deviceId, message: refusal, receivedAt: 5 }
    : { kind, deviceId, message: { v: 1, eventId: 'e', at: refusal.at, kind: 'amp-link', active: true }, receivedAt: 6 };

describe('UplinkRouter', () => {
  it('hands each message to every handler of its kind, typed, with the device and arrival instant', async () => {
    const seen: string[] = [];
    const router = new UplinkRouter(recordingLogger())
      .on('refused', (deviceId, r, at) => void seen.push(`a ${deviceId} ${r.reason} ${at}`))
      .on('refused', (deviceId) => void seen.push(`b ${deviceId}`))
      .on('event', (deviceId, e) => void seen.push(`event ${deviceId} ${e.kind}`));
    await router.dispatch(msg('refused'));
    await router.dispatch(msg('event', 'd2'));
    expect(seen).toEqual(['a d1 bad-signature 5', 'b d1', 'event d2 amp-link']);
  });

  it('a handler that throws is logged and the next one still gets the message', async () => {
    const logger = recordingLogger();
    const seen: string[] = [];
    const router = new UplinkRouter(logger)
      .on('refused', () => {
        throw new Error('disk full');
      })
      .on('refused', (deviceId) => void seen.push(deviceId));
    await router.dispatch(msg('refused'));
    expect(seen).toEqual(['d1']);
    expect(logger.lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(['uplink handling failed']);
  });

  it('a kind nobody handles is dropped and said once, not per message', async () => {
    const logger = recordingLogger();
    const router = new UplinkRouter(logger).on('event', () => undefined);
    for (let i = 0; i < 3; i++) await router.dispatch(msg('refused', `d${i}`));
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(logger.lines[0]!.msg).toContain('no handler');
  });

  it("one device's messages are handled in arrival order, each after the last finished; other devices do not wait", async () => {
    const seen: string[] = [];
    let release: () => void = () => undefined;
    const slow = new Promise<void>((resolve) => (release = resolve));
    const router = new UplinkRouter(recordingLogger())
      .on('refused', async (deviceId) => {
        seen.push(`start ${deviceId}`);
        if (deviceId === 'd1') await slow;
        seen.push(`end ${deviceId}`);
      })
      .on('event', async (deviceId) => {
        seen.push(`event ${deviceId}`);
        await Promise.resolve();
        throw new Error('database away');
      });
    const first = router.dispatch(msg('refused', 'd1'));
    const second = router.dispatch(msg('event', 'd1'));
    await router.dispatch(msg('refused', 'd2'));
    expect(seen).toEqual(['start d1', 'start d2', 'end d2']);
    release();
    await Promise.all([first, second]);
    expect(seen).toEqual(['start d1', 'start d2', 'end d2', 'end d1', 'event d1']);
  });
});
