import { randomUUID } from 'node:crypto';

/** Ids that fit a topic level and a URL path segment. */
export function newId(): string {
  return randomUUID();
}
