/**
 * What every batch writer needs on PostgreSQL: the errors that mean "run the transaction again"
 * and an order of keys that is the same in every process (rows locked in it cannot deadlock).
 */

/** PostgreSQL's deadlock_detected (40P01) and serialization_failure (40001): the transaction was a victim. */
export function isConflictVictim(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/** Runs `run` again (up to `attempts` in all) when PostgreSQL aborted it as a conflict's victim. */
export async function retryConflicts<T>(run: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (attempt >= attempts || !isConflictVictim(err)) throw err;
    }
  }
}

/** Plain code-unit order (not the locale's): the same in every process. */
export function codeUnitOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
