/** Instants are stored as UTC ISO strings with milliseconds. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
