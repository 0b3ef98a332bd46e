import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_UPSTREAM_MAPPING, HttpSpeechEngine } from '@loalang/broker';
import { mapFromEnv, serverSettingsFromEnv } from '../src/server-env.js';

describe('server settings from the environment', () => {
  it('reads stream hosts, the desired-state horizon and the audio length limit', () => {
    expect(serverSettingsFromEnv({ LOALANG_STREAM_HOSTS: ' VOV.vn, radio.laocai.gov.vn ,', LOALANG_DESIRED_HORIZON_HOURS: '72', LOALANG_MAX_AUDIO_SECONDS: '3600' })).toEqual({
      streamHosts: ['vov.vn', 'radio.laocai.gov.vn'],
      desiredHorizonMs: 72 * 3600_000,
      maxAudioDurationSec: 3600,
    });
    expect(serverSettingsFromEnv({})).toEqual({});
  });

  it('reads the loudness target and an HTTP text-to-speech service', () => {
    expect(serverSettingsFromEnv({ LOALANG_LOUDNESS_LUFS: '-23' }).loudness).toEqual({ integratedLufs: -23, truePeakDb: -1.5 });
    const speech = serverSettingsFromEnv({ LOALANG_TTS_URL: 'https://tts.example.vn/v1/speak', LOALANG_TTS_KEY: 'k' }).speech;
    expect(speech).toBeInstanceOf(HttpSpeechEngine);
    expect(() => serverSettingsFromEnv({ LOALANG_TTS_URL: 'tts.example.vn' })).toThrow(/LOALANG_TTS_URL.*http\(s\)/);
    expect(() => serverSettingsFromEnv({ LOALANG_TTS_URL: 'https://tts.example.vn', LOALANG_TTS_KEY_FILE: '/nonexistent/key' })).toThrow(/ENOENT/);
    expect(() => serverSettingsFromEnv({ LOALANG_LOUDNESS_LUFS: '-3' })).toThrow(/-36 to -5/);
  });

  it('reads alarm thresholds, the webhook and telemetry retention', () => {
    expect(serverSettingsFromEnv({ LOALANG_ALARM_OFFLINE_MINUTES: '5', LOALANG_ALARM_WEBHOOK_URL: 'https://chat.example.vn/hook', LOALANG_TELEMETRY_RAW_DAYS: '14' })).toEqual({
      alarmThresholds: { offlineAfterMs: 300_000 },
      alarmWebhook: { url: 'https://chat.example.vn/hook' },
      telemetryRetention: { rawMs: 14 * 86_400_000 },
    });
    expect(() => serverSettingsFromEnv({ LOALANG_ALARM_WEBHOOK_URL: 'chat.example.vn' })).toThrow(/LOALANG_ALARM_WEBHOOK_URL/);
  });

  it('reads the upstream connector: its address, credentials, mapping, area and rhythm; refuses it half configured', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loalang-env-'));
    try {
      const url = 'https://htttn.quangtri.gov.vn/api';
      expect(serverSettingsFromEnv({ LOALANG_UPSTREAM_URL: url, LOALANG_UPSTREAM_TOKEN: 't0k3n', LOALANG_UPSTREAM_AREA: '45', LOALANG_UPSTREAM_EVERY_MINUTES: '60' }).upstream).toEqual({
        url,
        token: 't0k3n',
        area: '45',
        everyMs: 3600_000,
        mapping: DEFAULT_UPSTREAM_MAPPING,
      });
      // Unauthenticated: refused, saying what to set.
      expect(() => serverSettingsFromEnv({ LOALANG_UPSTREAM_URL: url })).toThrow(/LOALANG_UPSTREAM_TOKEN or LOALANG_UPSTREAM_HMAC_SECRET/);
      expect(() => serverSettingsFromEnv({ LOALANG_UPSTREAM_URL: url, LOALANG_UPSTREAM_HMAC_SECRET: 'short' })).toThrow(/at least 16/);
      expect(() => serverSettingsFromEnv({ LOALANG_UPSTREAM_URL: 'ftp://x', LOALANG_UPSTREAM_TOKEN: 't' })).toThrow(/http:\/\/ or https:\/\//);
      // A province's own mapping, read and checked at start.
      const own = join(dir, 'mapping.json');
      writeFileSync(own, JSON.stringify({ ...DEFAULT_UPSTREAM_MAPPING, name: 'quang-tri', revision: '2026-11' }));
      const secret = join(dir, 'secret');
      writeFileSync(secret, 'a-secret-of-sixteen-or-more\n');
      const read = serverSettingsFromEnv({ LOALANG_UPSTREAM_URL: url, LOALANG_UPSTREAM_HMAC_SECRET_FILE: secret, LOALANG_UPSTREAM_MAPPING: own }).upstream!;
      expect(read).toMatchObject({ hmacSecret: 'a-secret-of-sixteen-or-more', mapping: { name: 'quang-tri', revision: '2026-11' }, everyMs: 15 * 60_000 });
      writeFileSync(own, JSON.stringify({ ...DEFAULT_UPSTREAM_MAPPING, format: 2 }));
      expect(() => serverSettingsFromEnv({ LOALANG_UPSTREAM_URL: url, LOALANG_UPSTREAM_TOKEN: 't', LOALANG_UPSTREAM_MAPPING: own })).toThrow(/LOALANG_UPSTREAM_MAPPING=.*không hợp lệ \/ invalid: \/format/);
      writeFileSync(own, '{ not json');
      expect(() => serverSettingsFromEnv({ LOALANG_UPSTREAM_URL: url, LOALANG_UPSTREAM_TOKEN: 't', LOALANG_UPSTREAM_MAPPING: own })).toThrow(/cannot read the JSON mapping/);
      expect(serverSettingsFromEnv({ LOALANG_OUTBOX_RETRY_SECONDS: '2', LOALANG_OUTBOX_RETRY_MAX_SECONDS: '600' }).outbox).toEqual({ baseMs: 2000, maxMs: 600_000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad values with both languages', () => {
    expect(() => serverSettingsFromEnv({ LOALANG_DESIRED_HORIZON_HOURS: 'hai ngày' })).toThrow(/phải là số.*must be a number/);
    expect(() => serverSettingsFromEnv({ LOALANG_DESIRED_HORIZON_HOURS: '0' })).toThrow(/from 1 to 336/);
    expect(() => serverSettingsFromEnv({ LOALANG_STREAM_HOSTS: 'http://vov.vn/' })).toThrow(/không phải tên máy chủ/);
  });

  it('reads the PostgreSQL URL, and refuses another scheme without printing its password', () => {
    expect(serverSettingsFromEnv({ LOALANG_DATABASE_URL: 'postgres://loalang:s3cret@db.example.vn:5432/loalang' })).toEqual({ databaseUrl: 'postgres://loalang:s3cret@db.example.vn:5432/loalang' });
    expect(serverSettingsFromEnv({ LOALANG_DATABASE_URL: 'postgresql://db/loalang' }).databaseUrl).toBe('postgresql://db/loalang');
    expect(serverSettingsFromEnv({})).toEqual({});
    let message = '';
    try {
      serverSettingsFromEnv({ LOALANG_DATABASE_URL: 'mysql://root:hunter2@db/loalang' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/LOALANG_DATABASE_URL=.*phải là địa chỉ postgres:\/\/ \/ must be a postgres:\/\/ URL/);
    expect(message).not.toContain('hunter2');
  });

  it('reads the map tile template and refuses one without {z}, {x} and {y}', () => {
    expect(mapFromEnv({})).toBeNull();
    expect(mapFromEnv({ LOALANG_MAP_TILE_URL: 'https://tiles.example.vn/{z}/{x}/{y}.png', LOALANG_MAP_ATTRIBUTION: '© OpenStreetMap' })).toEqual({ tileUrl: 'https://tiles.example.vn/{z}/{x}/{y}.png', attribution: '© OpenStreetMap' });
    expect(() => mapFromEnv({ LOALANG_MAP_TILE_URL: 'https://tiles.example.vn/tile.png' })).toThrow(/LOALANG_MAP_TILE_URL.*\{z\}/);
    expect(() => mapFromEnv({ LOALANG_MAP_TILE_URL: 'javascript:alert(1)//{z}{x}{y}' })).toThrow(/http\(s\)/);
  });
});
