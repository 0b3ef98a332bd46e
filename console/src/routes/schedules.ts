import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { assertNoConflict, assertPlayablePlan, CHECK_WINDOW_MS, checkStreamUrl, schedulePlays, type ScheduleItem as BrokerScheduleItem, assertOutsideQuietHours, brokerError, can, validateRecurrence, type Schedule, type ServerCore, type Targets } from '@loalang/broker';
import { Type, type Static } from '@sinclair/typebox';
import { isLoaError } from '@loalang/protocol';
import { CreateScheduleBody, IdParams, UpdateScheduleBody, type ScheduleItem } from '../schemas.js';
import { assertInScope, callerOf, canReadFromArea, requirePermission, type Caller } from '../auth.js';

const CheckQuery = Type.Object({ scheduleId: Type.Optional(IdParams.properties.id) }, { additionalProperties: false });

/** A start a little in the past is accepted (clock skew, slow forms); older ones are refused. */
const START_SLACK_MS = 60_000;

function checkItems(core: ServerCore, caller: Caller, items: Static<typeof ScheduleItem>[]): BrokerScheduleItem[] {
  return items.map((item) => {
    if (!('contentId' in item)) return { streamUrl: checkStreamUrl(item.streamUrl, core.streamHosts), durationSec: item.durationSec };
    const content = core.content.require(item.contentId);
    if (!canReadFromArea(core, caller, content.areaId)) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
    return { contentId: content.id };
  });
}

function checkTargets(core: ServerCore, caller: Caller, targets: Targets): Targets {
  if (targets.areaIds.length === 0 && targets.deviceIds.length === 0) {
    throw brokerError('LOA_ERR_INVALID', { en: 'targets name no area and no device', vi: 'chưa chọn địa bàn hoặc thiết bị phát' });
  }
  for (const a of targets.areaIds) assertInScope(caller, core.areas.require(a).id);
  for (const d of targets.deviceIds) assertInScope(caller, core.devices.require(d).areaId);
  return { areaIds: [...new Set(targets.areaIds)], deviceIds: [...new Set(targets.deviceIds)] };
}

function checkStart(core: ServerCore, start: string): string {
  const at = Date.parse(start);
  if (at < core.clock.now() - START_SLACK_MS) {
    throw brokerError('LOA_ERR_INVALID', { en: 'start is in the past', vi: 'thời điểm bắt đầu đã qua' });
  }
  return new Date(at).toISOString();
}

function checkPriority(caller: Caller, priority: string | undefined): void {
  if (priority === 'emergency' && !can(caller.user.role, 'alerts:write')) {
    throw brokerError('LOA_ERR_FORBIDDEN', { en: 'emergency priority needs the alert right', vi: 'mức khẩn cấp cần quyền phát cảnh báo' });
  }
}

/** Who approves a schedule as it is saved, by its area's rule (decision 0008); null: it waits. */
function approverOnSave(core: ServerCore, caller: Caller, areaId: string): string | null {
  const rule = core.areas.effectiveScheduleApproval(areaId);
  if (rule === 'none') return caller.user.id;
  if (rule === 'operators' && can(caller.user.role, 'schedules:approve')) return caller.user.id;
  return null;
}

const targetDevices = (core: ServerCore, s: Pick<Schedule, 'targets'>) =>
  core.devices.resolveTargetIds(s.targets.areaIds, s.targets.deviceIds);

export const scheduleRoutes: FastifyPluginAsyncTypebox<{ core: ServerCore }> = async (app, { core }) => {
  const read = requirePermission(core, 'schedules:read');
  const write = requirePermission(core, 'schedules:write');
  const approve = requirePermission(core, 'schedules:approve');

  const visible = (caller: Caller, s: Schedule) => caller.scope.has(s.areaId);

  app.get('/schedules', { schema: { tags: ['schedules'] }, preHandler: read }, async (request) => {
    const caller = callerOf(request);
    return core.schedules.list().filter((s) => visible(caller, s));
  });

  /** The schedule a create body describes, checked for scope, items, targets, start and recurrence. */
  const draftOf = (caller: Caller, body: Static<typeof CreateScheduleBody>) => {
    checkPriority(caller, body.priority);
    const areaId = body.areaId ?? caller.user.areaId;
    assertInScope(caller, areaId);
    if (body.recurrence) validateRecurrence(body.recurrence, core.areas.effectiveTimezone(areaId));
    return {
      title: body.title,
      areaId,
      priority: body.priority ?? 'normal',
      start: checkStart(core, body.start),
      items: checkItems(core, caller, body.items),
      targets: checkTargets(core, caller, body.targets),
      volume: body.volume ?? null,
      recurrence: body.recurrence ?? null,
      repeat: body.repeat ?? { count: 1, gapSec: 0 },
    };
  };
  const asSchedule = (draft: ReturnType<typeof draftOf>, id = ''): Schedule => ({ ...draft, id, status: 'pending', approvedAt: null, createdAt: '', updatedAt: '', createdBy: null, approvedBy: null });

  app.post('/schedules', { schema: { body: CreateScheduleBody, tags: ['schedules'] }, preHandler: write }, async (request, reply) => {
    const caller = callerOf(request);
    const draft = draftOf(caller, request.body);
    assertPlayablePlan(asSchedule(draft), core, core.clock.now());
    assertOutsideQuietHours(draft, core, core.clock.now());
    assertNoConflict(asSchedule(draft), core, core.clock.now());
    const schedule = core.schedules.create({
      ...draft,
      createdBy: caller.user.id,
      approvedBy: approverOnSave(core, caller, draft.areaId),
    });
    core.refreshDevices(targetDevices(core, schedule));
    return reply.status(201).send(schedule);
  });

  app.post(
    '/schedules/check',
    {
      schema: {
        body: CreateScheduleBody,
        querystring: CheckQuery,
        tags: ['schedules'],
        description: 'A dry run of POST /schedules (or of PATCH /schedules/{scheduleId} with the whole schedule): how many speakers it reaches, its plays in the next 14 days, and the quiet-hour or conflict problems saving would meet. Nothing is saved.',
      },
      preHandler: write,
    },
    async (request) => {
      const caller = callerOf(request);
      const draft = draftOf(caller, request.body);
      const id = request.query.scheduleId ?? '';
      if (id) assertInScope(caller, core.schedules.require(id).areaId);
      const now = core.clock.now();
      const schedule = asSchedule(draft, id);
      const problems: { code: string; message: string; messageVi: string; details?: Record<string, unknown> }[] = [];
      for (const check of [() => assertPlayablePlan(schedule, core, now), () => assertOutsideQuietHours(draft, core, now), () => assertNoConflict(schedule, core, now)]) {
        try {
          check();
        } catch (err) {
          if (!isLoaError(err)) throw err;
          problems.push({ code: err.code, message: err.message, messageVi: err.messageVi, ...(err.details ? { details: err.details } : {}) });
        }
      }
      const plays = schedulePlays(schedule, core, now, now + CHECK_WINDOW_MS);
      return { devices: targetDevices(core, draft).length, plays: plays.length, firstPlayAt: plays[0]?.startAt ?? null, approval: approverOnSave(core, caller, draft.areaId) ? 'on-save' : 'needed', problems };
    },
  );

  app.get('/schedules/:id', { schema: { params: IdParams, tags: ['schedules'] }, preHandler: read }, async (request) => {
    const s = core.schedules.require(request.params.id);
    if (!visible(callerOf(request), s)) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
    return s;
  });

  app.patch('/schedules/:id', { schema: { params: IdParams, body: UpdateScheduleBody, tags: ['schedules'] }, preHandler: write }, async (request) => {
    const caller = callerOf(request);
    const before = core.schedules.require(request.params.id);
    assertInScope(caller, before.areaId);
    const body = request.body;
    checkPriority(caller, body.priority);
    if (body.recurrence) validateRecurrence(body.recurrence, core.areas.effectiveTimezone(before.areaId));
    const patch = {
      ...(body.title ? { title: body.title } : {}),
      ...(body.priority ? { priority: body.priority } : {}),
      ...(body.start ? { start: checkStart(core, body.start) } : {}),
      ...(body.items ? { items: checkItems(core, caller, body.items) } : {}),
      ...(body.targets ? { targets: checkTargets(core, caller, body.targets) } : {}),
      ...(body.volume !== undefined ? { volume: body.volume } : {}),
      ...(body.recurrence !== undefined ? { recurrence: body.recurrence } : {}),
      ...(body.repeat ? { repeat: body.repeat } : {}),
    };
    assertPlayablePlan({ ...before, ...patch }, core, core.clock.now());
    assertOutsideQuietHours({ ...before, ...patch }, core, core.clock.now());
    assertNoConflict({ ...before, ...patch }, core, core.clock.now());
    const after = core.schedules.update(before.id, { ...patch, approvedBy: approverOnSave(core, caller, before.areaId) });
    core.refreshDevices(new Set([...targetDevices(core, before), ...targetDevices(core, after)]));
    return after;
  });

  app.post('/schedules/:id/approve', { schema: { params: IdParams, tags: ['schedules'] }, preHandler: approve }, async (request) => {
    const caller = callerOf(request);
    const s = core.schedules.require(request.params.id);
    assertInScope(caller, s.areaId);
    if (core.areas.effectiveScheduleApproval(s.areaId) === 'all' && s.createdBy === caller.user.id) {
      throw brokerError('LOA_ERR_FORBIDDEN', {
        en: 'in this area another user must approve a schedule you made (four eyes)',
        vi: 'tại địa bàn này, lịch do bạn tạo phải được người khác phê duyệt',
      });
    }
    const approved = core.schedules.approve(s.id, caller.user.id);
    core.refreshDevices(targetDevices(core, approved));
    return approved;
  });

  app.delete('/schedules/:id', { schema: { params: IdParams, tags: ['schedules'] }, preHandler: write }, async (request, reply) => {
    const s = core.schedules.require(request.params.id);
    assertInScope(callerOf(request), s.areaId);
    const devices = targetDevices(core, s);
    core.schedules.delete(s.id);
    core.refreshDevices(devices);
    return reply.status(204).send();
  });
};
