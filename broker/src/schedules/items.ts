/**
 * Schedule items: a content item from the library, or a relay (tiếp sóng) of a live stream
 * (VOV, the provincial station) for a fixed window. A relay has no file: its id in plays
 * and reports is derived from the stream URL, so one station's relays add up per day.
 */
import { createHash } from 'node:crypto';
import type { ContentLookup } from '../content/content-repo.js';
import { brokerError } from '../errors.js';

export type ScheduleItem = { contentId: string } | { streamUrl: string; durationSec: number };
export type RelayItem = Extract<ScheduleItem, { streamUrl: string }>;

export const isRelay = (item: ScheduleItem): item is RelayItem => 'streamUrl' in item;

const urlHash = (url: string) => createHash('sha256').update(url).digest('hex');

/** `relay-` and 24 hex digits of the URL's sha256: stable, fits the protocol's id pattern. */
export function relayContentId(streamUrl: string): string {
  return `relay-${urlHash(streamUrl).slice(0, 24)}`;
}

/** What one item contributes to a play: source, length, and the hash the agent checks. */
export function itemSource(item: ScheduleItem, content: ContentLookup, publicHttpUrl: () => string) {
  if (isRelay(item)) {
    return { contentId: relayContentId(item.streamUrl), sha256: urlHash(item.streamUrl), url: item.streamUrl, streamUrl: item.streamUrl, durationMs: item.durationSec * 1000 };
  }
  const c = content.get(item.contentId);
  if (!c) return null;
  return { contentId: c.id, sha256: c.sha256, url: `${publicHttpUrl()}/api/v1/content/${c.id}/file`, durationMs: c.durationMs };
}

export function itemDurationMs(item: ScheduleItem, content: ContentLookup): number {
  return isRelay(item) ? item.durationSec * 1000 : (content.get(item.contentId)?.durationMs ?? 0);
}

/**
 * A relay URL must be http(s) (Icecast, HTTP, HLS playlists) and, when the server is given an
 * allow-list of stream hosts, on one of them: a speaker must never relay a stranger's stream.
 */
export function checkStreamUrl(raw: string, allowedHosts: readonly string[] | null): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw brokerError('LOA_ERR_INVALID', { en: `streamUrl is not a URL: ${raw.slice(0, 100)}`, vi: `streamUrl không phải địa chỉ hợp lệ: ${raw.slice(0, 100)}` });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw brokerError('LOA_ERR_INVALID', { en: 'streamUrl must be http:// or https://', vi: 'streamUrl phải bắt đầu bằng http:// hoặc https://' });
  }
  if (allowedHosts && !allowedHosts.includes(url.hostname.toLowerCase())) {
    throw brokerError('LOA_ERR_FORBIDDEN', {
      en: `stream host ${url.hostname} is not on this server's list of allowed stream hosts`,
      vi: `máy chủ luồng ${url.hostname} không nằm trong danh sách nguồn tiếp sóng được phép`,
    });
  }
  return url.href;
}
