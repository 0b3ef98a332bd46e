/** TypeBox schemas of the HTTP API: validation and static types at once (and the OpenAPI text). */
import { Type, type Static } from '@sinclair/typebox';
import { Priority } from '@loalang/protocol';
import { BULLETIN_STATES, BulletinInputSchema, MAX_DELIVERIES_PAGE, MAX_KEY_DAYS, MAX_PUSH_DAYS, MAX_RATE_PER_MINUTE, OUTBOX_STATES, RECORD_KINDS, ROLES, TargetsSchema, WEBHOOK_EVENTS } from '@loalang/broker';

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }) });
export type IdParams = Static<typeof IdParams>;

const Name = Type.String({ minLength: 1, maxLength: 200 });
const AreaRef = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });

export const LoginBody = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 100 }), password: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);

export const RoleSchema = Type.Union(ROLES.map((r) => Type.Literal(r)));

export const CreateUserBody = Type.Object(
  {
    username: Type.String({ minLength: 2, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$' }),
    password: Type.String({ minLength: 10, maxLength: 200 }),
    role: RoleSchema,
    areaId: AreaRef,
  },
  { additionalProperties: false },
);
/** Issue 21: a service account (an API key for a machine) with one role over one area subtree. */
const ExpiresInDays = Type.Integer({ minimum: 1, maximum: MAX_KEY_DAYS, description: `days the key works, 1 to ${MAX_KEY_DAYS}; default 365` });
const RatePerMinute = Type.Integer({ minimum: 1, maximum: MAX_RATE_PER_MINUTE, description: 'requests a minute this key may make (per server node); default 600' });
const Description = Type.String({ maxLength: 500 });
export const CreateServiceAccountBody = Type.Object(
  {
    name: Type.String({ minLength: 2, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$', description: 'unique; the audit log names its requests `sa:<name>`' }),
    description: Type.Optional(Description),
    role: RoleSchema,
    areaId: AreaRef,
    expiresInDays: Type.Optional(ExpiresInDays),
    rateLimitPerMinute: Type.Optional(RatePerMinute),
  },
  { additionalProperties: false },
);
export const RotateServiceAccountBody = Type.Object({ expiresInDays: Type.Optional(ExpiresInDays) }, { additionalProperties: false });
export const UpdateServiceAccountBody = Type.Partial(Type.Object({ description: Description, rateLimitPerMinute: RatePerMinute }), { additionalProperties: false });

/** Issue 21 item 5: an integrator's webhook subscription. */
const WebhookEventsSchema = Type.Array(Type.Union(WEBHOOK_EVENTS.map((e) => Type.Literal(e))), { minItems: 1, maxItems: WEBHOOK_EVENTS.length, description: 'the events to send; `webhook.ping` is sent on request only' });
const WebhookUrl = Type.String({ minLength: 8, maxLength: 2000, description: 'http(s); https recommended: the body travels as it is, only signed' });
const WebhookName = Type.String({ minLength: 1, maxLength: 100 });
export const CreateWebhookBody = Type.Object(
  { name: WebhookName, description: Type.Optional(Type.String({ maxLength: 500 })), url: WebhookUrl, events: WebhookEventsSchema, areaId: AreaRef, active: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
export const UpdateWebhookBody = Type.Partial(Type.Object({ name: WebhookName, description: Type.String({ maxLength: 500 }), url: WebhookUrl, events: WebhookEventsSchema, active: Type.Boolean() }), { additionalProperties: false });
export const WebhookDeliveriesQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_DELIVERIES_PAGE, default: 50 })),
    beforeId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'the last id of the page before: the next page, older' })),
    state: Type.Optional(Type.Union(OUTBOX_STATES.map((s) => Type.Literal(s)))),
  },
  { additionalProperties: false },
);
export const DeliveryIdParams = Type.Object({ deliveryId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }) });

export const UpdateUserBody = Type.Partial(
  Type.Object({ password: Type.String({ minLength: 10, maxLength: 200 }), role: RoleSchema, areaId: AreaRef, disabled: Type.Boolean() }),
  { additionalProperties: false },
);

const HHMM = Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$' });
export const CreateAreaBody = Type.Object(
  {
    name: Name,
    parentId: Type.Union([AreaRef, Type.Null()]),
    timezone: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
    quietHours: Type.Optional(
      Type.Union([Type.Object({ from: HHMM, to: HHMM }, { additionalProperties: false, description: 'local times; only emergencies play in between' }), Type.Null()]),
    ),
    scheduleApproval: Type.Optional(
      Type.Union([Type.Literal('none'), Type.Literal('operators'), Type.Literal('all'), Type.Null()], {
        description: 'who must approve schedules here: none; operators (default: schedules of users without the approve right wait); all (every schedule waits, never approved by its creator); null inherits',
      }),
    ),
    geocodes: Type.Optional(
      Type.Union([Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 20 }), Type.Null()], { description: 'codes naming this area in CAP <geocode> values (e.g. the national administrative unit code)' }),
    ),
  },
  { additionalProperties: false },
);
export const UpdateAreaBody = Type.Partial(CreateAreaBody, { additionalProperties: false });

export const CreateDeviceBody = Type.Object({ name: Name, areaId: AreaRef }, { additionalProperties: false });
const Position = Type.Object(
  { lat: Type.Number({ minimum: -90, maximum: 90 }), lon: Type.Number({ minimum: -180, maximum: 180 }) },
  { additionalProperties: false, description: 'WGS 84; used for CAP polygons and circles and the map' },
);
export const UpdateDeviceBody = Type.Partial(Type.Object({ name: Name, areaId: AreaRef, disabled: Type.Boolean(), position: Type.Union([Position, Type.Null()]) }), {
  additionalProperties: false,
});

export const TtsBody = Type.Object(
  {
    text: Type.String({ minLength: 1, maxLength: 5000 }),
    voice: Type.Optional(Type.String({ maxLength: 32, pattern: '^[A-Za-z0-9_+-]+$' })),
    title: Type.Optional(Name),
    areaId: Type.Optional(AreaRef),
    kind: Type.Optional(
      Type.Union([Type.Literal('tts'), Type.Literal('alert')], {
        description: 'tts (default): a bulletin for the library; alert: speech for an alert, left out of the library list, the same text reusing the same item',
      }),
    ),
  },
  { additionalProperties: false },
);

const ContentKind = Type.Union([Type.Literal('upload'), Type.Literal('tts'), Type.Literal('alert'), Type.Literal('live')]);
export const ContentListQuery = Type.Object(
  { kind: Type.Optional(Type.Array(ContentKind, { minItems: 1, maxItems: 4, description: 'kinds to list (repeat the parameter); default upload, tts and live (recorded live announcements): alert speech is left out' })) },
  { additionalProperties: false },
);

/** Where a schedule or an alert plays: declared once, in the broker. */
export const Targets = TargetsSchema;

export const ScheduleItem = Type.Union([
  Type.Object({ contentId: AreaRef }, { additionalProperties: false }),
  Type.Object({ streamUrl: Type.String({ maxLength: 2048 }), durationSec: Type.Integer({ minimum: 1, maximum: 86400 }) }, { additionalProperties: false }),
]);

const LocalDate = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'YYYY-MM-DD in the area timezone' });
const LocalTime = Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$', description: 'HH:MM in the area timezone' });
const RecurrenceDates = {
  validFrom: Type.Optional(LocalDate),
  validTo: Type.Optional(LocalDate),
  skipDates: Type.Optional(Type.Array(LocalDate, { maxItems: 366 })),
};
export const RecurrenceSchema = Type.Union([
  Type.Object({ type: Type.Literal('daily'), time: LocalTime, ...RecurrenceDates }, { additionalProperties: false }),
  Type.Object(
    { type: Type.Literal('weekly'), time: LocalTime, days: Type.Array(Type.Integer({ minimum: 1, maximum: 7 }), { minItems: 1, maxItems: 7, description: '1 = Monday … 7 = Sunday' }), ...RecurrenceDates },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('monthly'), time: LocalTime, dayOfMonth: Type.Integer({ minimum: 1, maximum: 31 }), ...RecurrenceDates }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('cron'), cron: Type.String({ minLength: 9, maxLength: 100, description: 'minute hour day month weekday' }), ...RecurrenceDates }, { additionalProperties: false }),
]);

export const CreateScheduleBody = Type.Object(
  {
    title: Name,
    items: Type.Array(ScheduleItem, { minItems: 1, maxItems: 100 }),
    targets: Targets,
    start: Type.String({ format: 'date-time' }),
    recurrence: Type.Optional(Type.Union([RecurrenceSchema, Type.Null()])),
    repeat: Type.Optional(
      Type.Object(
        { count: Type.Integer({ minimum: 1, maximum: 10 }), gapSec: Type.Integer({ minimum: 0, maximum: 3600, default: 0 }) },
        { additionalProperties: false, description: 'play the playlist count times (1–10, Thông tư 39 practice) with gapSec between passes' },
      ),
    ),
    priority: Type.Optional(Priority),
    volume: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    areaId: Type.Optional(AreaRef),
  },
  { additionalProperties: false },
);
export type CreateScheduleBody = Static<typeof CreateScheduleBody>;
export const UpdateScheduleBody = Type.Partial(Type.Omit(CreateScheduleBody, ['areaId']), { additionalProperties: false });

export const ReportsQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time' })),
    to: Type.Optional(Type.String({ format: 'date-time' })),
    deviceId: Type.Optional(AreaRef),
    areaId: Type.Optional(AreaRef),
    format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')])),
  },
  { additionalProperties: false },
);

/** POST /upstream/push: what to send the HTTTN now (default: every kind the mapping sends). */
export const UpstreamPushBody = Type.Object(
  {
    kinds: Type.Optional(Type.Array(Type.Union(RECORD_KINDS.filter((k) => k !== 'bulletinOutcomes').map((k) => Type.Literal(k))), { minItems: 1, maxItems: 4, uniqueItems: true })),
    days: Type.Optional(Type.Array(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }), { minItems: 1, maxItems: MAX_PUSH_DAYS, description: 'local dates whose results are sent' })),
  },
  { additionalProperties: false },
);
export type UpstreamPushBody = Static<typeof UpstreamPushBody>;

/** GET /upstream/messages: a page of the upstream channel's delivery log. */
export const OutboxListQuery = Type.Object(
  {
    state: Type.Optional(Type.Union(OUTBOX_STATES.map((s) => Type.Literal(s)))),
    kind: Type.Optional(Type.String({ maxLength: 40 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
    before: Type.Optional(IdParams.properties.id),
  },
  { additionalProperties: false },
);
export type OutboxListQuery = Static<typeof OutboxListQuery>;
/** Issue 21 item 2: a bulletin from an upstream system (HTTTN); the body is declared once, in the broker, with the service that takes it. */
export const CreateBulletinBody = BulletinInputSchema;
export const BulletinListQuery = Type.Object(
  {
    state: Type.Optional(Type.Union(BULLETIN_STATES.map((s) => Type.Literal(s)))),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  },
  { additionalProperties: false },
);
export const UpstreamIdParams = Type.Object({ upstreamId: BulletinInputSchema.properties.id });
