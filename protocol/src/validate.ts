/**
 * Validation at the edge: parse bytes, check against the schema, return a result
 * (never throw), so a malformed payload is counted and dropped, not a crash.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { FormatRegistry } from '@sinclair/typebox';
import { MessageSchemas, type MessageKind, type MessageOf } from './messages.js';

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (v) => ISO_INSTANT.test(v) && !Number.isNaN(Date.parse(v)));
}

/** Largest MQTT payload we parse; bigger ones are refused before JSON.parse. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; reason: string };

const cache = new WeakMap<TSchema, TypeCheck<TSchema>>();

export function compiled<T extends TSchema>(schema: T): TypeCheck<T> {
  let check = cache.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    cache.set(schema, check);
  }
  return check as TypeCheck<T>;
}

export function validate<T extends TSchema>(schema: T, value: unknown): ValidationResult<Static<T>> {
  const check = compiled(schema);
  if (check.Check(value)) return { ok: true, value };
  const first = check.Errors(value).First();
  const reason = first ? `${first.path || '/'}: ${first.message}` : 'invalid';
  return { ok: false, reason };
}

export function parsePayload<T extends TSchema>(schema: T, payload: Buffer | string, maxBytes = MAX_PAYLOAD_BYTES): ValidationResult<Static<T>> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > maxBytes) return { ok: false, reason: `payload too large (${size} bytes)` };
  let json: unknown;
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return { ok: false, reason: 'payload is not valid JSON' };
  }
  return validate(schema, json);
}

export function parseMessage<K extends MessageKind>(kind: K, payload: Buffer | string): ValidationResult<MessageOf<K>> {
  return parsePayload(MessageSchemas[kind], payload) as ValidationResult<MessageOf<K>>;
}

export function encodeMessage<K extends MessageKind>(_kind: K, message: MessageOf<K>): Buffer {
  return Buffer.from(JSON.stringify(message));
}
