/**
 * `POST /alerts/cap`: turns a CAP 1.2 message from an allow-listed sender into our alert
 * path. Alert → a new alert; Update → replaces the alerts it references; Cancel → cancels
 * them. Only `status` Actual with `scope` Public sounds: Test, Exercise, System and Draft
 * messages, and Restricted/Private ones, are acknowledged and not played (docs/protocol.md).
 */
import type { Targets } from '../accounts/scope.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokerError } from '../errors.js';
import { fetchAudio } from '../content/fetch-audio.js';
import type { ServerServices } from '../core.js';
import type { Alert, CapOrigin } from './alerts.js';
import { capPriority, capSpeech, parseCap, pickInfo, type CapInfo, type CapMessage } from './cap.js';
import { insideCircle, insidePolygon, parseCircle, parsePolygon } from './geo.js';

export interface CapCaller {
  userId: string;
  /** The caller's area (content made from the message is filed there). */
  areaId: string;
  /** The areas the caller may alert: matching is confined to them. */
  scope: Set<string>;
}

export interface CapResult {
  action: 'created' | 'updated' | 'cancelled' | 'ignored';
  reason?: string;
  identifier: string;
  alerts: Alert[];
}

/** Areas named by a configured geocode, and speakers inside a polygon or circle, within the caller's scope. */
export async function capTargets(core: ServerServices, info: CapInfo, scope: Set<string>): Promise<Targets> {
  const areaIds = new Set<string>();
  const deviceIds = new Set<string>();
  const devices = (await core.devices.list({ areaIds: scope })).filter((d) => d.position && !d.disabled);
  for (const area of info.areas) {
    for (const a of await core.areas.byGeocode(area.geocodes.map((g) => g.value))) if (scope.has(a.id)) areaIds.add(a.id);
    const polygons = area.polygons.map((p) => parsePolygon(p) ?? invalidShape('polygon', p));
    const circles = area.circles.map((c) => parseCircle(c) ?? invalidShape('circle', c));
    for (const d of devices) {
      if (polygons.some((p) => insidePolygon(d.position!, p)) || circles.some((c) => insideCircle(d.position!, c))) deviceIds.add(d.id);
    }
  }
  return { areaIds: [...areaIds], deviceIds: [...deviceIds] };
}

function invalidShape(kind: string, value: string): never {
  throw brokerError('LOA_ERR_INVALID', { en: `CAP: <${kind}> "${value.slice(0, 100)}" is malformed`, vi: `CAP: <${kind}> "${value.slice(0, 100)}" không hợp lệ` });
}

/** The message's audio resource when it has one that loads, else speech of its text. */
async function capContent(core: ServerServices, msg: CapMessage, info: CapInfo, caller: CapCaller): Promise<string> {
  const title = (info.headline ?? info.event).slice(0, 200);
  // The message's audio is kept with its alert, out of the library (issue 14).
  const meta = { title, areaId: caller.areaId, createdBy: caller.userId, kind: 'alert' as const };
  const resource = info.resources.find((r) => r.mimeType.toLowerCase().startsWith('audio/') && (r.derefUri || r.uri));
  if (resource) {
    const dir = await mkdtemp(join(tmpdir(), 'loalang-cap-'));
    try {
      const bytes = resource.derefUri ? Buffer.from(resource.derefUri, 'base64') : await fetchAudio(resource.uri!, { allowedHosts: core.capAudioHosts, setting: 'LOALANG_CAP_AUDIO_HOSTS' });
      const file = join(dir, 'audio');
      await writeFile(file, bytes);
      return (await core.library.importAudio(file, { ...meta, originalName: resource.resourceDesc.slice(0, 200) })).id;
    } catch (err) {
      // The warning must still go out: its words are spoken instead.
      core.logger.error({ err, identifier: msg.identifier, uri: resource.uri }, 'CAP audio resource unusable; speaking the text instead');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return (await core.library.speak(capSpeech(info), { ...meta, voice: info.language.toLowerCase().startsWith('vi') ? 'vi' : 'en' })).id;
}

export async function ingestCap(core: ServerServices, xml: string, caller: CapCaller, allowedSenders: readonly string[]): Promise<CapResult> {
  const msg = parseCap(xml);
  if (!allowedSenders.includes(msg.sender)) {
    core.logger.warn({ sender: msg.sender, identifier: msg.identifier }, 'CAP message from a sender not on the allow-list refused');
    throw brokerError('LOA_ERR_FORBIDDEN', { en: `CAP sender ${msg.sender} is not on the allow-list (LOALANG_CAP_SENDERS)`, vi: `người gửi CAP ${msg.sender} không có trong danh sách cho phép (LOALANG_CAP_SENDERS)` });
  }
  const base = { identifier: msg.identifier, alerts: [] as Alert[] };
  if (msg.status !== 'Actual') return { ...base, action: 'ignored', reason: `status ${msg.status}: recorded, not broadcast` };
  if (msg.scope !== 'Public') return { ...base, action: 'ignored', reason: `scope ${msg.scope}: loudspeakers only carry Public messages` };
  if (msg.msgType === 'Ack' || msg.msgType === 'Error') return { ...base, action: 'ignored', reason: `msgType ${msg.msgType} carries no warning` };
  const referenced: Alert[] = [];
  for (const r of msg.references) referenced.push(...(await core.alerts.repo.byCapIdentifier(r.sender, r.identifier)).filter((a) => a.state === 'active'));
  if (msg.msgType === 'Cancel') {
    if (referenced.length === 0) return { ...base, action: 'ignored', reason: 'no active alert matches <references>' };
    const cancelled: Alert[] = [];
    for (const a of referenced) cancelled.push(await core.alerts.cancel(a.id));
    return { ...base, action: 'cancelled', alerts: cancelled };
  }
  const info = pickInfo(msg);
  if (!info) throw brokerError('LOA_ERR_INVALID', { en: 'CAP: an Alert or Update needs an <info> block', vi: 'CAP: bản tin Alert hoặc Update cần có khối <info>' });
  const targets = await capTargets(core, info, caller.scope);
  if (targets.areaIds.length + targets.deviceIds.length === 0) {
    throw brokerError('LOA_ERR_INVALID', {
      en: 'CAP: none of your areas has a matching geocode and no speaker lies in its polygons or circles',
      vi: 'CAP: không địa bàn nào của bạn khớp mã geocode và không loa nào nằm trong vùng polygon/circle',
    });
  }
  if (info.expires && Date.parse(info.expires) <= core.clock.now()) {
    throw brokerError('LOA_ERR_INVALID', { en: `CAP: the message expired at ${info.expires}`, vi: `CAP: bản tin đã hết hạn lúc ${info.expires}` });
  }
  const contentId = await capContent(core, msg, info, caller);
  const priority = capPriority(info);
  const cap: CapOrigin = { identifier: msg.identifier, sender: msg.sender, sent: msg.sent, event: info.event, severity: info.severity, urgency: info.urgency, certainty: info.certainty };
  const [replaced, ...others] = msg.msgType === 'Update' ? referenced : [];
  for (const o of others) await core.alerts.cancel(o.id);
  const alert = await core.alerts.create({
    title: (info.headline ?? info.event).slice(0, 200),
    text: capSpeech(info),
    contentId,
    priority,
    targets,
    // Warnings that cut in are said twice, as commune radio does; others once.
    repeat: priority === 'emergency' ? 2 : 1,
    gapMs: 3000,
    volume: null,
    expiresAt: info.expires ?? null,
    replaces: replaced?.id ?? null,
    cap,
    createdBy: caller.userId,
  });
  return { ...base, action: replaced ? 'updated' : 'created', alerts: [alert] };
}
