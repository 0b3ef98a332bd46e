/** Waiting in real time for something a test cannot be told about: poll until a condition holds. */

export interface PollOptions {
  /** How long to wait before failing; 10 s unless given. */
  timeoutMs?: number;
  /** The pause between two looks; 25 ms unless given. */
  intervalMs?: number;
}

/** What a condition returns while the awaited thing has not happened yet. */
export type Falsy = false | 0 | '' | null | undefined;

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_INTERVAL_MS = 25;

const optionsOf = (options: number | PollOptions): PollOptions => (typeof options === 'number' ? { timeoutMs: options } : options);

/**
 * Calls `cond` (sync or async) until it returns a truthy value, and returns that value. Past the
 * timeout it fails with `timed out after <ms> ms waiting for <what>`. A number as `options` is the
 * timeout in ms.
 */
export async function until<T>(what: string, cond: () => T | PromiseLike<T>, options: number | PollOptions = {}): Promise<Exclude<T, Falsy>> {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, intervalMs = DEFAULT_INTERVAL_MS } = optionsOf(options);
  const start = Date.now();
  for (;;) {
    const value = await cond();
    if (value) return value as Exclude<T, Falsy>;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `until` with other defaults, for a file whose waits share them: `const until = untilWithin({ timeoutMs: 5000 })`. */
export function untilWithin(defaults: PollOptions): <T>(what: string, cond: () => T | PromiseLike<T>, options?: number | PollOptions) => Promise<Exclude<T, Falsy>> {
  return (what, cond, options = {}) => until(what, cond, { ...defaults, ...optionsOf(options) });
}
