/** The agent config a new device receives once, with its secret (API.md "Agent config"). */
import type { Device } from '@loalang/broker';
import type { ServerKey } from '@loalang/protocol';

export interface PublicUrls {
  http: string;
  mqtt: string;
}

export function agentConfigFor(device: Device, secret: string, urls: PublicUrls, serverKeys: ServerKey[], releaseKeys: readonly ServerKey[] = []) {
  return {
    deviceId: device.id,
    password: secret,
    mqttUrl: urls.mqtt,
    httpUrl: urls.http,
    cacheDir: '/var/lib/loalang-agent',
    serial: { path: '/dev/ttyUSB0', baudRate: 115200, driver: 'loalang' as const },
    audioSink: 'alsa:default',
    // The keys the device checks every downlink against (decision 0016).
    serverKeys,
    // The keys agent releases must be signed by (issue 20).
    ...(releaseKeys.length ? { releaseKeys: releaseKeys.map(({ kid, publicKey }) => ({ kid, publicKey })) } : {}),
    // Over TLS the device pins the server's CA: copy ca.crt from `loalang pki init` (or your CA) here.
    ...(urls.mqtt.startsWith('mqtts:') ? { caFile: '/etc/loalang/ca.crt' } : {}),
  };
}
