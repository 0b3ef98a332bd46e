/**
 * Live announcements as a caller sees them (issue 18). Who may speak where: a `priority`
 * announcement needs the right to schedule, an `emergency` one the right to alert, in every
 * target area. A caller prepares a session (its record and a one-time ticket); the source
 * (the console's microphone, `loalang live`) presents the ticket to feed it, on whichever node
 * it reaches, and that node runs it (LiveService). Speakers say where they are with it as it
 * goes; their play reports are the record: who heard it, how long each played. What was said is
 * stored in the library when it ends.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { rm } from 'node:fs/promises';
import { LIVE_FRAME_MS, newId, overlapsQuietHours, type Clock, type LiveSpeakerState, type LiveStatus, type Logger } from '@loalang/protocol';
import { can } from '../accounts/roles.js';
import { checkTargets, deviceInScope, type Caller } from '../accounts/scope.js';
import type { AreaRepo } from '../areas/areas.js';
import type { ContentLibrary } from '../content/library.js';
import type { DeviceRepo } from '../devices/devices.js';
import { brokerError } from '../errors.js';
import type { ReportRepo, StoredReport } from '../reports/reports.js';
import { iso } from '../time.js';
import type { LiveService, LiveSessionView } from './service.js';
import type { LivePriority, LiveSessionRecord, LiveSessionRepo } from './sessions.js';

/** What a caller asks for: the body of `POST /live`. */
export interface LiveInput {
  areaIds: string[];
  priority?: LivePriority;
  title?: string;
  volume?: number;
}

/** How long a prepared session's ticket may wait for its source. */
export const LIVE_TICKET_MS = 60_000;
/** Sessions whose speakers' states are kept in memory (the running ones and the last ended). */
const KEEP_SPEAKERS = 50;

export interface LiveSpeaker {
  deviceId: string;
  state: LiveSpeakerState;
  at: string;
  reason?: string;
  playedMs?: number;
  lateFrames?: number;
}

/** A device's outcome, from its play reports (a speaker that lost the session and joined again has more than one). */
export interface LiveOutcome {
  deviceId: string;
  plays: number;
  playedMs: number;
  statuses: string[];
  reasons: string[];
  firstStartedAt: string | null;
}

export interface LiveDetail {
  session: LiveSessionRecord;
  /** On this node while it runs: its timeline and counts. */
  running: LiveSessionView | null;
  speakers: LiveSpeaker[];
  outcomes: LiveOutcome[];
}

export interface LiveDeskDeps {
  live: LiveService;
  sessions: LiveSessionRepo;
  areas: AreaRepo;
  devices: DeviceRepo;
  library: Pick<ContentLibrary, 'importAudio'>;
  reports: Pick<ReportRepo, 'ofSchedule'>;
  clock: Clock;
  logger: Logger;
  /** This node's id in a cluster (null alone). */
  nodeId: string | null;
  /** Asks the other nodes of a cluster to end a session that does not run here. */
  endElsewhere?: (sessionId: string) => void;
  /** The longest a session may last (LiveService's): what a report may claim before its end is known. */
  maxDurationMs: number;
}

type DeskEvents = { speaker: [sessionId: string, speaker: LiveSpeaker]; recorded: [sessionId: string, outcome: { contentId: string } | { error: string }] };

export class LiveDesk extends EventEmitter<DeskEvents> {
  private readonly speakers = new Map<string, Map<string, LiveSpeaker>>();
  /** Ends being recorded (the node waits for them before it stops). */
  private readonly ending = new Set<Promise<void>>();

  constructor(private readonly d: LiveDeskDeps) {
    super();
    d.live.on('ended', (view, recording) => {
      const done = this.onEnded(view, recording).finally(() => this.ending.delete(done));
      this.ending.add(done);
    });
  }

  /** Checks the caller's right and every area, then records the session and its ticket (shown once). */
  async prepare(caller: Caller, input: LiveInput): Promise<{ session: LiveSessionRecord; ticket: string; ticketExpiresAt: string; speakers: number }> {
    const priority = input.priority ?? 'priority';
    this.assertMay(caller, priority);
    if (input.areaIds.length === 0) throw brokerError('LOA_ERR_INVALID', { en: 'a live announcement needs at least one area', vi: 'phát trực tiếp cần ít nhất một địa bàn' });
    const { areaIds } = await checkTargets(this.d, caller, { areaIds: input.areaIds, deviceIds: [] });
    const now = this.d.clock.now();
    if (priority !== 'emergency') await this.assertNotQuiet(areaIds, now);
    const ticket = randomBytes(24).toString('base64url');
    const ticketExpiresAt = iso(now + LIVE_TICKET_MS);
    const session = await this.d.sessions.create({
      id: newId(),
      areaIds,
      priority,
      title: input.title?.trim() || null,
      volume: input.volume ?? null,
      createdBy: caller.user.id,
      createdAt: iso(now),
      ticket,
      ticketExpiresAt,
    });
    const speakers = (await this.d.devices.resolveTargetIds(areaIds, [])).length;
    return { session, ticket, ticketExpiresAt, speakers };
  }

  /** The source presents its ticket: the session runs on this node from now on. */
  async open(sessionId: string, ticket: string): Promise<LiveSessionView> {
    const record = await this.d.sessions.claim(sessionId, ticket, this.d.nodeId ?? 'local', iso(this.d.clock.now()));
    if (!record) throw brokerError('LOA_ERR_FORBIDDEN', { en: 'this live announcement\'s ticket is wrong, used or expired: prepare it again', vi: 'vé phát trực tiếp không đúng, đã dùng hoặc đã hết hạn: hãy tạo lại buổi phát' });
    return this.d.live.open({
      id: record.id,
      areaIds: record.areaIds,
      priority: record.priority,
      createdBy: record.createdBy,
      ...(record.title ? { title: record.title } : {}),
      ...(record.volume !== null ? { volume: record.volume } : {}),
    });
  }

  /** The source's frame (see LiveService.feed). */
  feed(sessionId: string, sourceIndex: number, packet: Buffer): void {
    this.d.live.feed(sessionId, sourceIndex, packet);
  }

  /** Resolves once every ended session's record and recording are stored. */
  async settled(): Promise<void> {
    while (this.ending.size > 0) await Promise.all([...this.ending]);
  }

  /**
   * Ends a session the caller may see and speak in: at once if it runs on this node; otherwise
   * false (on a cluster the caller's node asks the others, see ServerCore).
   */
  async end(caller: Caller, sessionId: string): Promise<boolean> {
    const record = await this.requireVisible(caller, sessionId);
    this.assertMay(caller, record.priority);
    if (this.endHere(sessionId)) return true;
    if (!record.endedAt) this.d.endElsewhere?.(sessionId);
    return false;
  }

  /** Ends the session if it runs on this node. */
  endHere(sessionId: string): boolean {
    if (!this.d.live.get(sessionId)) return false;
    this.d.live.end(sessionId);
    return true;
  }

  /** A speaker's `live/status`, from this node's MQTT or another node's (the bus). */
  onStatus(deviceId: string, status: LiveStatus): void {
    let states = this.speakers.get(status.sessionId);
    if (!states) {
      states = new Map();
      this.speakers.set(status.sessionId, states);
      if (this.speakers.size > KEEP_SPEAKERS) this.speakers.delete(this.speakers.keys().next().value!);
    }
    const known = states.get(deviceId);
    // QoS 0 from a speaker may arrive out of order after a reconnect: the latest instant stands.
    if (known && Date.parse(known.at) > Date.parse(status.at)) return;
    const speaker: LiveSpeaker = {
      deviceId,
      state: status.state,
      at: status.at,
      ...(status.reason ? { reason: status.reason } : {}),
      ...(status.playedMs !== undefined ? { playedMs: status.playedMs } : {}),
      ...(status.lateFrames !== undefined ? { lateFrames: status.lateFrames } : {}),
    };
    states.set(deviceId, speaker);
    this.emit('speaker', status.sessionId, speaker);
  }

  /** Sessions the caller may see, newest first. */
  async list(caller: Caller, limit: number): Promise<LiveSessionRecord[]> {
    return (await this.d.sessions.list(Math.max(limit * 4, 200))).filter((s) => this.visible(caller, s)).slice(0, limit);
  }

  /** One session with its speakers' states and their reported outcomes. */
  async detail(caller: Caller, sessionId: string): Promise<LiveDetail> {
    const session = await this.requireVisible(caller, sessionId);
    const mine = await deviceInScope(this.d.devices, caller);
    const speakers = [...(this.speakers.get(sessionId)?.values() ?? [])].filter((s) => mine(s.deviceId));
    // Its plays are due at its anchor, after it started and before it ended.
    const reports = session.startedAt ? await this.d.reports.ofSchedule(sessionId, session.startedAt, iso((session.endedAt ? Date.parse(session.endedAt) : this.d.clock.now()) + 60_000)) : [];
    return { session, running: this.d.live.get(sessionId), speakers, outcomes: outcomesOf(reports.filter((r) => mine(r.deviceId))) };
  }

  /**
   * For report intake: the play a device may report for a session, if the session was announced
   * to an area the device sits in (or below).
   */
  async playFor(sessionId: string, deviceId: string): Promise<{ durationMs: number } | null> {
    const [session, device] = await Promise.all([this.d.sessions.get(sessionId), this.d.devices.get(deviceId)]);
    if (!session?.startedAt || !device) return null;
    const up = await this.d.areas.ancestorIds(device.areaId);
    if (!session.areaIds.some((a) => up.includes(a))) return null;
    return { durationMs: session.endedAt ? Date.parse(session.endedAt) - Date.parse(session.startedAt) : this.d.maxDurationMs };
  }

  private assertMay(caller: Caller, priority: LivePriority): void {
    const needed = priority === 'emergency' ? 'alerts:write' : 'schedules:write';
    if (!can(caller.user.role, needed)) {
      throw brokerError('LOA_ERR_FORBIDDEN', {
        en: priority === 'emergency' ? 'an emergency live announcement needs the right to send alerts' : 'a live announcement needs the right to schedule',
        vi: priority === 'emergency' ? 'phát trực tiếp khẩn cấp cần quyền phát cảnh báo' : 'phát trực tiếp cần quyền lập lịch phát',
      });
    }
  }

  /**
   * Quiet hours hold for a live announcement as for a schedule (Thông tư 39): one that would
   * sound now in an area that is quiet is refused, unless it is an emergency. (Speakers check too.)
   */
  private async assertNotQuiet(areaIds: string[], now: number): Promise<void> {
    const speakerAreas = new Set((await this.d.devices.resolveTargets(areaIds, [])).map((d) => d.areaId));
    for (const areaId of speakerAreas) {
      const qh = await this.d.areas.effectiveQuietHours(areaId);
      if (!qh || !overlapsQuietHours(now, LIVE_FRAME_MS, qh, qh.timeZone ?? 'Asia/Ho_Chi_Minh')) continue;
      const area = (await this.d.areas.get(areaId))?.name ?? areaId;
      throw brokerError(
        'LOA_ERR_QUIET_HOURS',
        {
          en: `${area} is quiet from ${qh.from} to ${qh.to}: only an emergency may be announced live now`,
          vi: `${area} đang trong giờ yên tĩnh (${qh.from}–${qh.to}): lúc này chỉ được phát trực tiếp tin khẩn cấp`,
        },
        { areaId, quietHours: { from: qh.from, to: qh.to } },
      );
    }
  }

  private visible(caller: Caller, s: LiveSessionRecord): boolean {
    return s.areaIds.some((a) => caller.scope.has(a)) || s.createdBy === caller.user.id;
  }

  private async requireVisible(caller: Caller, sessionId: string): Promise<LiveSessionRecord> {
    const record = await this.d.sessions.get(sessionId);
    if (!record) throw brokerError('LOA_ERR_NOT_FOUND', { en: `live announcement ${sessionId}`, vi: `buổi phát trực tiếp ${sessionId}` });
    if (!this.visible(caller, record)) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
    return record;
  }

  /** Records the end, then stores the recording in the library under the session's id. */
  private async onEnded(view: LiveSessionView, recording: Promise<{ path: string } | { error: string }> | null): Promise<void> {
    try {
      await this.d.sessions.finish(view.id, { endedAt: view.endedAt ?? iso(this.d.clock.now()), endReason: view.endReason ?? 'ended', frames: { ...view.frames, lastIndex: view.lastIndex } });
      if (!recording) return;
      const file = await recording;
      const outcome = 'path' in file ? await this.store(view, file.path) : file;
      await this.d.sessions.recorded(view.id, outcome);
      if ('error' in outcome) this.d.logger.warn({ sessionId: view.id, error: outcome.error }, 'live announcement not recorded / không lưu được bản ghi phát trực tiếp');
      this.emit('recorded', view.id, outcome);
    } catch (err) {
      this.d.logger.error({ err, sessionId: view.id }, 'live announcement end not recorded');
    }
  }

  private async store(view: LiveSessionView, path: string): Promise<{ contentId: string } | { error: string }> {
    try {
      const title = view.title ?? `Phát trực tiếp ${new Date(Date.parse(view.startedAt) + 7 * 3600_000).toISOString().slice(0, 16).replace('T', ' ')}`;
      const item = await this.d.library.importAudio(path, { id: view.id, title, areaId: await this.commonArea(view.areaIds), originalName: null, createdBy: view.createdBy, kind: 'live' });
      return { contentId: item.id };
    } catch (err) {
      return { error: (err as Error).message };
    } finally {
      await rm(path, { force: true });
    }
  }

  /** The deepest area above (or equal to) every target: who may see the recording. */
  private async commonArea(areaIds: string[]): Promise<string> {
    const chains = await this.d.areas.ancestorIdsOfMany(areaIds);
    const first = chains.get(areaIds[0]!) ?? [areaIds[0]!];
    return first.find((a) => areaIds.every((id) => (chains.get(id) ?? [id]).includes(a))) ?? areaIds[0]!;
  }
}

/** Each device's reports of a session, summed. */
export function outcomesOf(reports: StoredReport[]): LiveOutcome[] {
  const by = new Map<string, LiveOutcome>();
  for (const r of reports) {
    const o = by.get(r.deviceId) ?? { deviceId: r.deviceId, plays: 0, playedMs: 0, statuses: [], reasons: [], firstStartedAt: null };
    o.plays++;
    o.playedMs += r.playedMs;
    o.statuses.push(r.status);
    if (r.reason) o.reasons.push(r.reason);
    if (r.startedAt && (!o.firstStartedAt || r.startedAt < o.firstStartedAt)) o.firstStartedAt = r.startedAt;
    by.set(r.deviceId, o);
  }
  return [...by.values()];
}
