/**
 * What an upstream system (the province's source-information system, HTTTN) sends to deliver a
 * bulletin: the one declaration of that body (issue 21 item 2). The console validates requests
 * with it and the service takes its static type.
 */
import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';

/**
 * Priorities of Thông tư 39/2020/TT-BTTTT, named as our `Priority`: `emergency` (khẩn cấp),
 * `priority` (ưu tiên), `normal` (thông thường).
 */
export const BulletinPrioritySchema = Type.Union([Type.Literal('emergency'), Type.Literal('priority'), Type.Literal('normal')], {
  description: 'TT39: emergency (khẩn cấp), priority (ưu tiên), normal (thông thường)',
});

export const BulletinInputSchema = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$', description: "the upstream system's own id of the bulletin: a resend with the same id is the same bulletin" }),
    title: Type.String({ minLength: 1, maxLength: 200 }),
    text: Type.Optional(Type.String({ minLength: 1, maxLength: 5000, description: 'spoken by the TTS engine (Vietnamese); give text or audioUrl, not both' })),
    audioUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'http(s) audio fetched once, only from LOALANG_BULLETIN_AUDIO_HOSTS, no redirects' })),
    areaCodes: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 500, description: 'national administrative unit codes, matched with the areas\' geocodes' }),
    priority: BulletinPrioritySchema,
    validFrom: Type.Optional(Type.String({ format: 'date-time', description: 'when it may first play; default now' })),
    validUntil: Type.Optional(Type.String({ format: 'date-time', description: 'not played after this; after validFrom' })),
    repeat: Type.Optional(
      Type.Object(
        { count: Type.Integer({ minimum: 1, maximum: 10 }), gapSec: Type.Integer({ minimum: 0, maximum: 3600 }) },
        { additionalProperties: false, description: 'play it count times with gapSec between (TT39 practice)' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type BulletinInput = Static<typeof BulletinInputSchema>;

/** JSON with keys sorted at every level: the same body however its keys were ordered. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The body's fingerprint: a resend is told from a changed bulletin by it. Instants are compared
 * as instants (`…+07:00` and the same moment in UTC are one body).
 */
export function bulletinHash(input: BulletinInput): string {
  const at = (s: string | undefined) => (s === undefined ? undefined : new Date(s).toISOString());
  return createHash('sha256')
    .update(canonical({ ...input, validFrom: at(input.validFrom), validUntil: at(input.validUntil) }))
    .digest('hex');
}
