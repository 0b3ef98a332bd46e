/**
 * Building blocks of the response schemas (issue 15: one source of API types). Every answer of
 * the API is declared once, in this folder, in TypeBox: Fastify serialises through it (a field
 * not declared never leaves the server), OpenAPI describes it, and the web console imports its
 * static type (`import type`, so nothing here reaches the browser bundle).
 *
 * This folder is also type-checked by the web console's tsconfig: TypeBox and the schemas of
 * `protocol` and `broker` only, no Node APIs.
 */
import { Type, type Static, type TSchema, type TUnsafe } from '@sinclair/typebox';

/**
 * A value or null, written as OpenAPI 3.0's `nullable`. Not `Type.Union([T, Type.Null()])`:
 * fast-json-stringify resolves an anyOf by running a validator on every value, which made the
 * device list serialise 2.2× slower (slower than JSON.stringify), and a stored value outside
 * the branch's limits would have failed the whole answer. Not for unions: use
 * `Type.Union([..., Type.Null()])` there (`nullable` needs a `type`).
 */
export function Nullable<T extends TSchema>(schema: T): TUnsafe<Static<T> | null> {
  if (schema['anyOf'] !== undefined || schema['type'] === undefined) throw new Error('Nullable() takes a schema with a type; use Type.Union([..., Type.Null()]) for unions');
  return Type.Unsafe<Static<T> | null>({ ...schema, nullable: true });
}

/** One of a fixed list of strings, as an `enum` (serialised as a plain string, listed in OpenAPI). */
export function StringEnum<const T extends string>(values: readonly T[], options: { description?: string } = {}): TUnsafe<T> {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });
}

export const Instant = Type.String({ format: 'date-time', description: 'UTC instant, ISO 8601' });
export const Id = Type.String();

/** Every error the API answers: a stable code and the text in English and Vietnamese. */
export const ApiErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable code callers can branch on, LOA_ERR_*' }),
      message: Type.String(),
      messageVi: Type.String(),
      details: Type.Optional(Type.Unknown({ description: 'what the code needs to say more, e.g. retryAt, scheduleId' })),
    }),
  },
  { description: 'An error, in English and Vietnamese' },
);
export type ApiError = Static<typeof ApiErrorSchema>['error'];

const ERRORS = { '4xx': ApiErrorSchema, '5xx': ApiErrorSchema } as const;

/** `response` of a route answering 200 with `schema` (errors in the one error shape). */
export const ok = <T extends TSchema>(schema: T) => ({ 200: schema, ...ERRORS });
/** `response` of a route answering 201 with what it made. */
export const created = <T extends TSchema>(schema: T) => ({ 201: schema, ...ERRORS });
/** `response` of a route answering 202: taken on, not done yet. */
export const accepted = <T extends TSchema>(schema: T) => ({ 202: schema, ...ERRORS });
/** `response` of a route answering 204 without a body. */
export const noContent = () => ({ 204: Type.Unsafe<undefined>({ type: 'null', description: 'Done; no body' }), ...ERRORS });
/** `response` of a route answering `status` with a body that is not JSON (an event stream, a file). */
export const notJson = (mediaType: string, description: string, statuses: readonly number[] = [200]) => ({
  ...Object.fromEntries(statuses.map((s) => [s, { description, content: { [mediaType]: { schema: Type.String(mediaType.startsWith('text/') ? {} : { format: 'binary' }) } } }])),
  ...ERRORS,
});
/** `response` of a route answering CSV only. */
export const csvOnly = (description: string) => ({ 200: { description, content: { 'text/csv': { schema: Type.String() } } }, ...ERRORS });
/** `response` of a route answering JSON, CSV (`format=csv`) or a PDF document (`format=pdf`). */
export const jsonCsvOrPdf = <T extends TSchema>(schema: T, description: string) => ({
  200: {
    description,
    content: {
      'application/json': { schema },
      'text/csv': { schema: Type.String({ description: 'the rows as CSV (format=csv)' }) },
      // Sent as a Buffer: the static type says so, the schema says binary.
      'application/pdf': { schema: Type.Unsafe<Buffer>({ type: 'string', format: 'binary', description: 'the printable form, A4 (format=pdf)' }) },
    },
  },
  ...ERRORS,
});
/** `response` of a route answering JSON, or CSV when asked with `format=csv`. */
export const jsonOrCsv = <T extends TSchema>(schema: T, description: string) => ({
  200: { description, content: { 'application/json': { schema }, 'text/csv': { schema: Type.String({ description: 'the same rows as CSV (format=csv)' }) } } },
  ...ERRORS,
});
