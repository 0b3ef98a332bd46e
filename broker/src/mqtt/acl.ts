/**
 * Topic ACL for devices, as pure functions. Device D may publish only on its own uplink
 * topics and retain only its status; it may subscribe only inside its own downlink
 * subtree and its areas' subtrees. A wildcard can never widen beyond those.
 */
import { NAMESPACE, UPLINK } from '@loalang/protocol';
import type { DeviceIdentity } from './contracts.js';

const UPLINK_SET: ReadonlySet<string> = new Set(UPLINK);

export function canPublish(identity: DeviceIdentity, topic: string, retain: boolean): boolean {
  const prefix = `${NAMESPACE}/dev/${identity.deviceId}/`;
  if (!topic.startsWith(prefix)) return false;
  const kind = topic.slice(prefix.length);
  if (!UPLINK_SET.has(kind)) return false;
  return !retain || kind === 'status';
}

/**
 * True when every topic the filter can match lies under one of the allowed prefixes.
 * The prefix levels must be matched literally (no `+` or `#` inside them).
 */
function filterWithin(filter: string, prefixLevels: string[]): boolean {
  const levels = filter.split('/');
  if (levels.length < prefixLevels.length) {
    // Shorter than the prefix: only safe if it is exactly a prefix of it with nothing wild.
    return false;
  }
  for (let i = 0; i < prefixLevels.length; i++) {
    if (levels[i] !== prefixLevels[i]) return false;
  }
  return true;
}

export function canSubscribe(identity: DeviceIdentity, filter: string): boolean {
  if (filter.length === 0 || filter.startsWith('$')) return false;
  const own = [...NAMESPACE.split('/'), 'dev', identity.deviceId];
  if (filterWithin(filter, own) && filter.length > own.join('/').length) return true;
  return identity.areaIds.some((areaId) => {
    const area = [...NAMESPACE.split('/'), 'area', areaId];
    return filterWithin(filter, area) && filter.length > area.join('/').length;
  });
}

/** MQTT filter matching (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}
