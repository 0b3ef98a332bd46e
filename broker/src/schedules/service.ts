/**
 * Every rule about a schedule, in one place (issue 15: they were split between the console's
 * routes and the broker, six calls back and forth to validate one schedule): who may make it
 * and where, what it may play, when it may start, whether its plan can play at all, quiet
 * hours, conflicts, who approves it (decision 0008) and the four-eyes rule. Routes parse, call
 * one method, and reply. Every change sends the affected speakers their new programme.
 */
import { EventEmitter } from 'node:events';
import type { Clock, Priority } from '@loalang/protocol';
import type { AreaRepo } from '../areas/areas.js';
import type { ContentRepo } from '../content/content-repo.js';
import type { DeviceRepo } from '../devices/devices.js';
import { can } from '../accounts/roles.js';
import { assertInScope, canReadFromArea, checkTargets, type Caller, type Targets } from '../accounts/scope.js';
import { brokerError } from '../errors.js';
import { isLoaError } from '@loalang/protocol';
import { checkStreamUrl, type ScheduleItem } from './items.js';
import { assertPlayablePlan } from './plan-check.js';
import { assertOutsideQuietHours } from './quiet-check.js';
import { validateRecurrence, type Recurrence } from './recurrence.js';
import type { Schedule, ScheduleRepo } from './schedules.js';
import { assertNoConflict, CHECK_WINDOW_MS, schedulePlays } from './timeline.js';

/** What a caller asks for: the body of `POST /schedules`. */
export interface ScheduleInput {
  title: string;
  items: ScheduleItem[];
  targets: Targets;
  start: string;
  recurrence?: Recurrence | null;
  repeat?: { count: number; gapSec: number };
  priority?: Priority;
  volume?: number;
  /** The schedule's own area (whose rules apply); default the caller's. */
  areaId?: string;
}
/** What an edit may change: any field but the area. */
export type SchedulePatch = Partial<Omit<ScheduleInput, 'areaId'>>;

export interface ScheduleProblem {
  code: string;
  message: string;
  messageVi: string;
  details?: Record<string, unknown>;
}

/** The answer of a dry run: what saving would mean, and what it would meet. */
export interface ScheduleCheck {
  devices: number;
  plays: number;
  firstPlayAt: string | null;
  approval: 'on-save' | 'needed';
  problems: ScheduleProblem[];
}

export interface ScheduleServiceDeps {
  areas: AreaRepo;
  devices: DeviceRepo;
  content: ContentRepo;
  schedules: ScheduleRepo;
  /** Lower-case hosts relays may use, or null for any. */
  streamHosts: () => readonly string[] | null;
  clock: Clock;
  /** Recomputes and sends these devices' programmes. */
  refresh: (deviceIds: Iterable<string>) => void;
}

/** A start a little in the past is accepted (clock skew, slow forms); older ones are refused. */
const START_SLACK_MS = 60_000;

type Draft = Omit<Schedule, 'id' | 'status' | 'approvedAt' | 'createdAt' | 'updatedAt' | 'createdBy' | 'approvedBy'>;

/** `approved`: a schedule was approved, by hand or as it was saved (issue 21: webhooks). */
export type ScheduleEvents = { approved: [Schedule] };

export class ScheduleService {
  readonly events = new EventEmitter<ScheduleEvents>();

  constructor(private readonly d: ScheduleServiceDeps) {}

  /** The schedules of the caller's areas. */
  async list(caller: Caller): Promise<Schedule[]> {
    return (await this.d.schedules.list()).filter((s) => caller.scope.has(s.areaId));
  }

  async get(caller: Caller, id: string): Promise<Schedule> {
    const s = await this.d.schedules.require(id);
    if (!caller.scope.has(s.areaId)) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
    return s;
  }

  /**
   * Saves a new schedule, approved at once or left waiting by its area's rule. `holdForApproval`:
   * it waits whatever the rule (a bulletin that asked for more than its sender may do, issue 21).
   */
  async create(caller: Caller, input: ScheduleInput, opts: { holdForApproval?: boolean } = {}): Promise<Schedule> {
    const draft = await this.draft(caller, input);
    await this.assertPlays(this.asSchedule(draft), this.d.clock.now());
    const approvedBy = opts.holdForApproval ? null : await this.approverOnSave(caller, draft.areaId);
    const schedule = await this.d.schedules.create({ ...draft, createdBy: caller.user.id, approvedBy });
    this.d.refresh(await this.targetDevices(schedule));
    if (schedule.status === 'approved') this.events.emit('approved', schedule);
    return schedule;
  }

  /**
   * A dry run of create (or of an edit of `scheduleId`, which then does not conflict with
   * itself): the problems saving would meet, collected instead of thrown. Malformed input still
   * throws, as saving would.
   */
  async check(caller: Caller, input: ScheduleInput, scheduleId = ''): Promise<ScheduleCheck> {
    const draft = await this.draft(caller, input);
    if (scheduleId) assertInScope(caller, (await this.d.schedules.require(scheduleId)).areaId);
    const now = this.d.clock.now();
    const schedule = this.asSchedule(draft, scheduleId);
    const problems: ScheduleProblem[] = [];
    for (const rule of [() => assertPlayablePlan(schedule, this.d, now), () => assertOutsideQuietHours(draft, this.d, now), () => assertNoConflict(schedule, this.d, now)]) {
      try {
        await rule();
      } catch (err) {
        if (!isLoaError(err)) throw err;
        problems.push({ code: err.code, message: err.message, messageVi: err.messageVi, ...(err.details ? { details: err.details } : {}) });
      }
    }
    const plays = await schedulePlays(schedule, { areas: this.d.areas, content: await this.d.content.lookup([schedule]) }, now, now + CHECK_WINDOW_MS);
    return {
      devices: (await this.targetDevices(draft)).length,
      plays: plays.length,
      firstPlayAt: plays[0]?.startAt ?? null,
      approval: (await this.approverOnSave(caller, draft.areaId)) ? 'on-save' : 'needed',
      problems,
    };
  }

  /** Changes a schedule; it is approved again (or waits again) by its area's rule. */
  async update(caller: Caller, id: string, patch: SchedulePatch): Promise<Schedule> {
    const before = await this.d.schedules.require(id);
    assertInScope(caller, before.areaId);
    this.assertPriority(caller, patch.priority);
    if (patch.recurrence) validateRecurrence(patch.recurrence, await this.d.areas.effectiveTimezone(before.areaId));
    const changes = {
      ...(patch.title ? { title: patch.title } : {}),
      ...(patch.priority ? { priority: patch.priority } : {}),
      ...(patch.start ? { start: this.checkStart(patch.start) } : {}),
      ...(patch.items ? { items: await this.checkItems(caller, patch.items) } : {}),
      ...(patch.targets ? { targets: await this.checkTargets(caller, patch.targets) } : {}),
      ...(patch.volume !== undefined ? { volume: patch.volume } : {}),
      ...(patch.recurrence !== undefined ? { recurrence: patch.recurrence } : {}),
      ...(patch.repeat ? { repeat: patch.repeat } : {}),
    };
    await this.assertPlays({ ...before, ...changes }, this.d.clock.now());
    const after = await this.d.schedules.update(before.id, { ...changes, approvedBy: await this.approverOnSave(caller, before.areaId) });
    this.d.refresh(new Set([...(await this.targetDevices(before)), ...(await this.targetDevices(after))]));
    if (after.status === 'approved') this.events.emit('approved', after);
    return after;
  }

  /** Approves a waiting schedule; where the area says `all`, never by the one who made it. */
  async approve(caller: Caller, id: string): Promise<Schedule> {
    const s = await this.d.schedules.require(id);
    assertInScope(caller, s.areaId);
    if ((await this.d.areas.effectiveScheduleApproval(s.areaId)) === 'all' && s.createdBy === caller.user.id) {
      throw brokerError('LOA_ERR_FORBIDDEN', {
        en: 'in this area another user must approve a schedule you made (four eyes)',
        vi: 'tại địa bàn này, lịch do bạn tạo phải được người khác phê duyệt',
      });
    }
    const approved = await this.d.schedules.approve(s.id, caller.user.id);
    this.d.refresh(await this.targetDevices(approved));
    this.events.emit('approved', approved);
    return approved;
  }

  async remove(caller: Caller, id: string): Promise<void> {
    const s = await this.d.schedules.require(id);
    assertInScope(caller, s.areaId);
    const devices = await this.targetDevices(s);
    await this.d.schedules.delete(s.id);
    this.d.refresh(devices);
  }

  /** The schedule a create body describes, each part checked. */
  private async draft(caller: Caller, input: ScheduleInput): Promise<Draft> {
    this.assertPriority(caller, input.priority);
    const areaId = input.areaId ?? caller.user.areaId;
    assertInScope(caller, areaId);
    if (input.recurrence) validateRecurrence(input.recurrence, await this.d.areas.effectiveTimezone(areaId));
    return {
      title: input.title,
      areaId,
      priority: input.priority ?? 'normal',
      start: this.checkStart(input.start),
      items: await this.checkItems(caller, input.items),
      targets: await this.checkTargets(caller, input.targets),
      volume: input.volume ?? null,
      recurrence: input.recurrence ?? null,
      repeat: input.repeat ?? { count: 1, gapSec: 0 },
    };
  }

  private asSchedule(draft: Draft, id = ''): Schedule {
    return { ...draft, id, status: 'pending', approvedAt: null, createdAt: '', updatedAt: '', createdBy: null, approvedBy: null };
  }

  /** What saving checks beyond the draft: the plan can play, quiet hours, no conflict. */
  private async assertPlays(schedule: Schedule, now: number): Promise<void> {
    await assertPlayablePlan(schedule, this.d, now);
    await assertOutsideQuietHours(schedule, this.d, now);
    await assertNoConflict(schedule, this.d, now);
  }

  private assertPriority(caller: Caller, priority: Priority | undefined): void {
    if (priority === 'emergency' && !can(caller.user.role, 'alerts:write')) {
      throw brokerError('LOA_ERR_FORBIDDEN', { en: 'emergency priority needs the alert right', vi: 'mức khẩn cấp cần quyền phát cảnh báo' });
    }
  }

  private checkStart(start: string): string {
    const at = Date.parse(start);
    if (at < this.d.clock.now() - START_SLACK_MS) throw brokerError('LOA_ERR_INVALID', { en: 'start is in the past', vi: 'thời điểm bắt đầu đã qua' });
    return new Date(at).toISOString();
  }

  private async checkItems(caller: Caller, items: ScheduleItem[]): Promise<ScheduleItem[]> {
    const checked: ScheduleItem[] = [];
    for (const item of items) {
      if (!('contentId' in item)) {
        checked.push({ streamUrl: checkStreamUrl(item.streamUrl, this.d.streamHosts()), durationSec: item.durationSec });
        continue;
      }
      const content = await this.d.content.require(item.contentId);
      if (!(await canReadFromArea(this.d.areas, caller, content.areaId))) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
      checked.push({ contentId: content.id });
    }
    return checked;
  }

  private async checkTargets(caller: Caller, targets: Targets): Promise<Targets> {
    if (targets.areaIds.length === 0 && targets.deviceIds.length === 0) {
      throw brokerError('LOA_ERR_INVALID', { en: 'targets name no area and no device', vi: 'chưa chọn địa bàn hoặc thiết bị phát' });
    }
    return checkTargets(this.d, caller, targets);
  }

  /** Who approves a schedule as it is saved, by its area's rule (decision 0008); null: it waits. */
  private async approverOnSave(caller: Caller, areaId: string): Promise<string | null> {
    const rule = await this.d.areas.effectiveScheduleApproval(areaId);
    if (rule === 'none') return caller.user.id;
    if (rule === 'operators' && can(caller.user.role, 'schedules:approve')) return caller.user.id;
    return null;
  }

  private targetDevices(s: Pick<Schedule, 'targets'>): Promise<string[]> {
    return this.d.devices.resolveTargetIds(s.targets.areaIds, s.targets.deviceIds);
  }
}
