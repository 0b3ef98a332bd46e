import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newSigningKey } from '@loalang/protocol';
import { loadAgentConfig, parseAgentConfig } from '../src/config.js';

const { kid, publicKey } = newSigningKey();
const good = { deviceId: 'dev-1', password: 'pw', mqttUrl: 'mqtt://127.0.0.1:1883', httpUrl: 'http://127.0.0.1:8080', cacheDir: 'cache', serial: { simulate: true }, audioSink: 'file:out', serverKeys: [{ kid, publicKey }] };

describe('agent config', () => {
  it('loads, fills defaults and resolves paths against the config folder', () => {
    const c = parseAgentConfig(good, '/etc/loalang');
    expect(c).toMatchObject({ cacheDir: '/etc/loalang/cache', audioSink: 'file:/etc/loalang/out', warmupMs: 1500, tailMs: 2000, volume: 80 });
  });

  it.each([
    [{ ...good, serial: { path: '/dev/ttyUSB0', baudRate: 'fast' } }, 'serial'],
    [{ ...good, audioSink: 'speaker' }, 'audioSink'],
    [{ ...good, mqttUrl: 'http://x' }, 'mqttUrl'],
    [{ ...good, volume: 150 }, 'volume'],
    [{ ...good, colour: 'red' }, 'colour'],
    [{ ...good, deviceId: 'a/b' }, 'deviceId'],
    [{ ...good, serverKeys: [] }, 'serverKeys'],
    [{ ...good, serverKeys: [{ kid: 'AAAAAAAAAAAA', publicKey }] }, 'serverKeys.0.kid'],
    [{ ...good, serverKeys: undefined }, 'serverKeys'],
  ])('names the bad key (%#)', (raw, key) => {
    expect(() => parseAgentConfig(raw, '/x')).toThrow(new RegExp(`config key "${key}`));
  });

  it('needs exactly one of password and passwordFile, and reads the file', async () => {
    const { password: _p, ...noPassword } = good;
    expect(() => parseAgentConfig(noPassword, '/x')).toThrow(/config key "password"/);
    const dir = mkdtempSync(join(tmpdir(), 'loalang-cfg-'));
    writeFileSync(join(dir, 'secret'), 's3cret\n');
    writeFileSync(join(dir, 'agent.json'), JSON.stringify({ ...noPassword, passwordFile: 'secret' }));
    expect((await loadAgentConfig(join(dir, 'agent.json'), {})).password).toBe('s3cret');
    writeFileSync(join(dir, 'both.json'), JSON.stringify({ ...good, passwordFile: 'secret' }));
    await expect(loadAgentConfig(join(dir, 'both.json'), {})).rejects.toThrow(/exactly one/);
    writeFileSync(join(dir, 'broken.json'), '{ "deviceId": ');
    await expect(loadAgentConfig(join(dir, 'broken.json'), {})).rejects.toThrow(/not valid JSON/);
  });

  it('lets environment variables override top-level strings', () => {
    expect(parseAgentConfig(good, '/x', { LOALANG_AGENT_MQTT_URL: 'mqtts://srv:8883' }).mqttUrl).toBe('mqtts://srv:8883');
  });
});
