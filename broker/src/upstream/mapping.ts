/**
 * The mapping between LoaLang's records and a province's HTTTN (issue 21, item 3): a JSON file,
 * versioned, that says for each kind of record which address it goes to, how many go in one
 * request, the request's envelope, and each upstream field: a path into our record, a constant,
 * or a path with a value map, a default and a format. A province adapts it without code; the
 * format is described in docs/integration.md and this schema is its one definition.
 *
 * The same field rules read an upstream's bulletin into ours (`intake.bulletin`), the other way.
 */
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { validate } from '@loalang/protocol';

const Literal = Type.Literal;

/** How a value is written (or, in intake, read): as is, text, number, unix seconds, or a date pattern (yyyy MM dd HH mm ss). */
export const FieldFormat = Type.Union([Literal('string'), Literal('number'), Literal('epoch-seconds'), Type.String({ pattern: '^pattern:.{1,40}$' })]);

export const FieldSpec = Type.Union([
  Type.String({ minLength: 1, description: 'a path into the record, names joined by dots: "area.code"' }),
  Type.Object({ const: Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]) }, { additionalProperties: false }),
  Type.Object(
    {
      from: Type.String({ minLength: 1 }),
      /** Values replaced: keys are the value as text ("true", "online", "1"). */
      map: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]))),
      default: Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()])),
      format: Type.Optional(FieldFormat),
    },
    { additionalProperties: false },
  ),
]);
export type FieldSpec = Static<typeof FieldSpec>;

/** Output field names; a dot makes a nested object ("viTri.kinhDo"). */
export const FieldMap = Type.Record(Type.String({ minLength: 1, maxLength: 100 }), FieldSpec);
export type FieldMap = Static<typeof FieldMap>;

export const RecordSpec = Type.Object(
  {
    /** Appended to LOALANG_UPSTREAM_URL. */
    path: Type.String({ pattern: '^/[^\\s]*$' }),
    /** Records per request (default 500). */
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    /**
     * The request body: any JSON, where the strings "$items", "$count", "$batch", "$batches",
     * "$sentAt", "$kind", "$mapping" and "$source" stand for those values.
     */
    envelope: Type.Unknown(),
    fields: FieldMap,
  },
  { additionalProperties: false },
);
export type RecordSpec = Static<typeof RecordSpec>;

export const RECORD_KINDS = ['registry', 'programmes', 'results', 'alertDeliveries', 'bulletinOutcomes'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

export const UpstreamMapping = Type.Object(
  {
    /** The mapping file's own format; this server reads format 1. */
    format: Literal(1),
    /** Who the mapping is for, and its revision: sent with every request (X-LoaLang-Mapping). */
    name: Type.String({ minLength: 1, maxLength: 100 }),
    revision: Type.String({ minLength: 1, maxLength: 40 }),
    /** The timezone of pattern-formatted times (default Asia/Ho_Chi_Minh). */
    timeZone: Type.Optional(Type.String()),
    auth: Type.Optional(
      Type.Object(
        {
          /** The header carrying LOALANG_UPSTREAM_TOKEN, and what precedes the token in it. */
          tokenHeader: Type.Optional(Type.String({ minLength: 1 })),
          tokenPrefix: Type.Optional(Type.String()),
          /** The header carrying the HMAC signature with LOALANG_UPSTREAM_HMAC_SECRET. */
          signatureHeader: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** The kinds sent; a kind left out is not sent. */
    records: Type.Partial(Type.Object(Object.fromEntries(RECORD_KINDS.map((k) => [k, RecordSpec])) as Record<RecordKind, typeof RecordSpec>), { additionalProperties: false }),
    intake: Type.Optional(Type.Object({ bulletin: Type.Object({ fields: FieldMap }, { additionalProperties: false }) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type UpstreamMapping = Static<typeof UpstreamMapping>;

/** Checks a mapping; its problem is said in both languages. */
export function parseMapping(json: unknown, where = 'mapping'): UpstreamMapping {
  const checked = validate(UpstreamMapping, json);
  if (!checked.ok) throw new Error(`${where}: không hợp lệ / invalid: ${checked.reason}`);
  for (const [kind, spec] of Object.entries(checked.value.records)) for (const [field, f] of Object.entries(spec!.fields)) checkFormat(`${where}: records.${kind}.fields.${field}`, f);
  for (const [field, f] of Object.entries(checked.value.intake?.bulletin.fields ?? {})) checkFormat(`${where}: intake.bulletin.fields.${field}`, f);
  return checked.value;
}

export function loadMapping(file: string): UpstreamMapping {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: không đọc được tệp ánh xạ JSON / cannot read the JSON mapping: ${(err as Error).message}`);
  }
  return parseMapping(json, file);
}

function checkFormat(where: string, f: FieldSpec): void {
  if (typeof f !== 'object' || !('from' in f) || !f.format?.startsWith('pattern:')) return;
  if (!/yyyy/.test(f.format)) throw new Error(`${where}: mẫu thời gian cần yyyy / a time pattern needs yyyy: ${f.format}`);
}

/** The value at a dotted path of a record; undefined when a step is missing. */
export function valueAt(record: unknown, path: string): unknown {
  let v: unknown = record;
  for (const step of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[step];
  }
  return v;
}

const PATTERN_TOKENS = /yyyy|MM|dd|HH|mm|ss/g;

/** The wall-clock parts of an instant in a timezone. */
function partsIn(at: number, timeZone: string): Record<'yyyy' | 'MM' | 'dd' | 'HH' | 'mm' | 'ss', string> {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '00';
  return { yyyy: get('year'), MM: get('month'), dd: get('day'), HH: get('hour'), mm: get('minute'), ss: get('second') };
}

/** An instant (ISO text or ms) written with a pattern such as "dd/MM/yyyy HH:mm:ss", in a timezone. */
export function formatInstant(value: string | number, pattern: string, timeZone: string): string | null {
  const at = typeof value === 'number' ? value : Date.parse(value);
  if (!Number.isFinite(at)) return null;
  const p = partsIn(at, timeZone);
  return pattern.replace(PATTERN_TOKENS, (t) => p[t as keyof typeof p]);
}

/** The instant a pattern-written local time names (the inverse of formatInstant), or null when it does not fit. */
export function parseInstant(text: string, pattern: string, timeZone: string): number | null {
  const order: string[] = [];
  const source = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(PATTERN_TOKENS, (t) => (order.push(t), t === 'yyyy' ? '(\\d{4})' : '(\\d{2})'));
  const m = new RegExp(`^${source}$`).exec(text.trim());
  if (!m) return null;
  const v = Object.fromEntries(order.map((t, i) => [t, Number(m[i + 1])]));
  const guess = Date.UTC(v['yyyy']!, (v['MM'] ?? 1) - 1, v['dd'] ?? 1, v['HH'] ?? 0, v['mm'] ?? 0, v['ss'] ?? 0);
  // The zone's offset at that time, read by formatting the guess back.
  const back = partsIn(guess, timeZone);
  const asUtc = Date.UTC(Number(back.yyyy), Number(back.MM) - 1, Number(back.dd), Number(back.HH), Number(back.mm), Number(back.ss));
  return guess - (asUtc - guess);
}

type Scalar = string | number | boolean | null;

/** One field of a record, written as the upstream wants it. */
export function writeField(record: unknown, f: FieldSpec, timeZone: string): unknown {
  if (typeof f === 'string') return valueAt(record, f) ?? null;
  if ('const' in f) return f.const;
  let v = valueAt(record, f.from);
  if (f.map && v !== undefined && v !== null && String(v) in f.map) v = f.map[String(v)];
  if (v === undefined || v === null) return f.default ?? null;
  if (!f.format) return v;
  if (f.format === 'string') return typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (f.format === 'number') return Number.isFinite(Number(v)) ? Number(v) : (f.default ?? null);
  const at = typeof v === 'number' ? v : Date.parse(String(v));
  if (!Number.isFinite(at)) return f.default ?? null;
  if (f.format === 'epoch-seconds') return Math.floor(at / 1000);
  return formatInstant(at, f.format.slice('pattern:'.length), timeZone);
}

/** One field of an upstream's record, read into ours: the inverse of writeField (times come back as ISO text). */
export function readField(record: unknown, f: FieldSpec, timeZone: string): unknown {
  if (typeof f === 'string') return valueAt(record, f);
  if ('const' in f) return f.const;
  let v = valueAt(record, f.from);
  if (f.map && v !== undefined && v !== null && String(v) in f.map) v = f.map[String(v)];
  if (v === undefined || v === null) return f.default ?? undefined;
  if (!f.format) return v;
  if (f.format === 'string') return String(v);
  if (f.format === 'number') return Number(v);
  if (f.format === 'epoch-seconds') return Number.isFinite(Number(v)) ? new Date(Number(v) * 1000).toISOString() : v;
  const at = parseInstant(String(v), f.format.slice('pattern:'.length), timeZone);
  return at === null ? v : new Date(at).toISOString();
}

/** Sets a value at a dotted path, making the objects on the way. */
function setAt(target: Record<string, unknown>, path: string, value: unknown): void {
  const steps = path.split('.');
  let o = target;
  for (const step of steps.slice(0, -1)) o = (o[step] ??= {}) as Record<string, unknown>;
  o[steps.at(-1)!] = value;
}

/** A record as the upstream's fields. */
export function mapRecord(record: unknown, fields: FieldMap, timeZone: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(fields)) setAt(out, name, writeField(record, f, timeZone));
  return out;
}

/** An upstream's record as ours (intake). */
export function readRecord(record: unknown, fields: FieldMap, timeZone: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(fields)) {
    const v = readField(record, f, timeZone);
    if (v !== undefined) setAt(out, name, v);
  }
  return out;
}

export interface EnvelopeValues {
  items: unknown[];
  count: number;
  batch: number;
  batches: number;
  sentAt: string;
  kind: string;
  mapping: string;
  source: string;
}

/** The envelope with its "$name" strings replaced. */
export function fillEnvelope(envelope: unknown, values: EnvelopeValues): unknown {
  if (typeof envelope === 'string' && envelope.startsWith('$')) {
    const name = envelope.slice(1) as keyof EnvelopeValues;
    return name in values ? values[name] : envelope;
  }
  if (Array.isArray(envelope)) return envelope.map((e) => fillEnvelope(e, values));
  if (envelope && typeof envelope === 'object') return Object.fromEntries(Object.entries(envelope).map(([k, v]) => [k, fillEnvelope(v, values)]));
  return envelope as Scalar;
}

export const DEFAULT_TIME_ZONE = 'Asia/Ho_Chi_Minh';

/** The bodies one kind of record is sent in: batches of `batchSize`, each in the envelope. */
export function requestBodies(mapping: UpstreamMapping, kind: RecordKind, records: unknown[], at: { sentAt: string; source: string }): string[] {
  const spec = mapping.records[kind];
  if (!spec) return [];
  const tz = mapping.timeZone ?? DEFAULT_TIME_ZONE;
  const size = spec.batchSize ?? 500;
  const batches = Math.max(1, Math.ceil(records.length / size));
  const bodies: string[] = [];
  for (let b = 0; b < batches; b++) {
    const items = records.slice(b * size, (b + 1) * size).map((r) => mapRecord(r, spec.fields, tz));
    const values: EnvelopeValues = { items, count: items.length, batch: b + 1, batches, sentAt: at.sentAt, kind, mapping: `${mapping.name}@${mapping.revision}`, source: at.source };
    bodies.push(JSON.stringify(fillEnvelope(spec.envelope, values)));
  }
  return bodies;
}
