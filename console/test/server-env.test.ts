import { describe, expect, it } from 'vitest';
import { serverSettingsFromEnv } from '../src/server-env.js';

describe('server settings from the environment', () => {
  it('reads stream hosts, the desired-state horizon and the audio length limit', () => {
    expect(serverSettingsFromEnv({ LOALANG_STREAM_HOSTS: ' VOV.vn, radio.laocai.gov.vn ,', LOALANG_DESIRED_HORIZON_HOURS: '72', LOALANG_MAX_AUDIO_SECONDS: '3600' })).toEqual({
      streamHosts: ['vov.vn', 'radio.laocai.gov.vn'],
      desiredHorizonMs: 72 * 3600_000,
      maxAudioDurationSec: 3600,
    });
    expect(serverSettingsFromEnv({})).toEqual({});
  });

  it('refuses bad values with both languages', () => {
    expect(() => serverSettingsFromEnv({ LOALANG_DESIRED_HORIZON_HOURS: 'hai ngày' })).toThrow(/phải là số.*must be a number/);
    expect(() => serverSettingsFromEnv({ LOALANG_DESIRED_HORIZON_HOURS: '0' })).toThrow(/from 1 to 336/);
    expect(() => serverSettingsFromEnv({ LOALANG_STREAM_HOSTS: 'http://vov.vn/' })).toThrow(/không phải tên máy chủ/);
  });
});
