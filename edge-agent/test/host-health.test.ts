import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMmcli, readCpuTemperature, readHostHealth, readModem } from '../src/health/host-health.js';
import { Telemetry, validate } from '@loalang/protocol';

describe('host health', () => {
  it('reads the modem from mmcli JSON, and nothing when there is no modem', () => {
    const lte = JSON.stringify({ modem: { generic: { 'access-technologies': ['lte'], 'signal-quality': { recent: 'yes', value: '67' } }, '3gpp': { 'operator-name': 'Viettel' } } });
    expect(parseMmcli(lte)).toEqual({ type: 'lte', signalPercent: 67, operator: 'Viettel' });
    expect(parseMmcli(JSON.stringify({ modem: { generic: { 'access-technologies': ['--'] } } }))).toBeUndefined();
    expect(parseMmcli('not json')).toBeUndefined();
  });

  it('reads a thermal zone in °C, and nothing from a missing or absurd one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loalang-thermal-'));
    writeFileSync(join(dir, 'temp'), '48312\n');
    expect(await readCpuTemperature(join(dir, 'temp'))).toBe(48.3);
    writeFileSync(join(dir, 'bad'), '999999999\n');
    expect(await readCpuTemperature(join(dir, 'bad'))).toBeUndefined();
    expect(await readCpuTemperature(join(dir, 'missing'))).toBeUndefined();
  });

  it('omits the modem when mmcli is not installed, and its figures fit the telemetry schema', async () => {
    expect(await readModem('/nonexistent/mmcli')).toBeUndefined();
    const h = await readHostHealth();
    expect(h.memTotalBytes).toBeGreaterThan(h.memUsedBytes);
    expect(h.agentRssBytes).toBeGreaterThan(10_000_000);
    const t = { v: 1, at: new Date().toISOString(), agentVersion: 'x', uptimeSec: 1, desiredVersion: 0, outboxPending: 0, ...h };
    expect(validate(Telemetry, t).ok).toBe(true);
  });
});
