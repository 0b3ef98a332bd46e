/**
 * Brute-force protection that a stranger cannot turn against the account's owner (issue 14:
 * five wrong passwords typed by anyone locked `admin` out for 15 minutes). Following OWASP's
 * advice, wrong passwords are counted per account *and source address*: after THROTTLE_AFTER
 * of them, that address waits before its next try on that account, one minute, then twice as
 * long after each further wrong one, up to an hour. The owner, from any other address, is not
 * held up. Against guessing spread over many addresses: once an account collects
 * ACCOUNT_SURGE wrong passwords within the hour, addresses that never logged in to it wait
 * after their first wrong one; addresses it was used from before keep their usual allowance.
 * The counts live in SQLite, so a restart does not reset them.
 */
import type { Db } from '../store/db.js';
import { iso } from '../time.js';

/** Wrong passwords from one address before it has to wait. */
export const THROTTLE_AFTER = 5;
export const FIRST_DELAY_MS = 60_000;
export const MAX_DELAY_MS = 3600_000;
/** Wrong passwords on one account within the hour, all addresses together, that make unknown addresses wait at once. */
export const ACCOUNT_SURGE = 50;
/** An address's count starts again after an hour without a wrong password. */
const FORGET_MS = 3600_000;
/** Addresses an account was used from are remembered this long. */
const REMEMBER_MS = 90 * 24 * 3600_000;

const keyOf = (username: string) => username.trim().toLowerCase().slice(0, 100);

export class LoginThrottle {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  /** Until when this address must wait before trying this account again, or null. */
  blockedUntil(username: string, source: string): string | null {
    const row = this.db.prepare('SELECT blocked_until FROM login_throttle WHERE username = ? AND source = ?').get(keyOf(username), source) as { blocked_until: string | null } | undefined;
    return row?.blocked_until && Date.parse(row.blocked_until) > this.now() ? row.blocked_until : null;
  }

  /** Counts a wrong password; returns until when the address must now wait, or null. */
  failed(username: string, source: string): string | null {
    const now = this.now();
    const key = keyOf(username);
    return this.db.transaction(() => {
      const row = this.db
        .prepare(
          `INSERT INTO login_throttle (username, source, failures, last_failure_at) VALUES (@key, @source, 1, @at)
           ON CONFLICT (username, source) DO UPDATE SET
             failures = CASE WHEN last_failure_at IS NULL OR last_failure_at < @forget THEN 1 ELSE failures + 1 END,
             last_failure_at = @at
           RETURNING failures, succeeded_at`,
        )
        .get({ key, source, at: iso(now), forget: iso(now - FORGET_MS) }) as { failures: number; succeeded_at: string | null };
      const known = row.succeeded_at !== null && Date.parse(row.succeeded_at) > now - REMEMBER_MS;
      const recent = this.db.prepare('SELECT COALESCE(SUM(failures), 0) AS n FROM login_throttle WHERE username = ? AND last_failure_at >= ?').get(key, iso(now - FORGET_MS)) as { n: number };
      const allowance = recent.n >= ACCOUNT_SURGE && !known ? 1 : THROTTLE_AFTER;
      if (row.failures < allowance) return null;
      const until = iso(now + Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(row.failures - allowance, 20)));
      this.db.prepare('UPDATE login_throttle SET blocked_until = ? WHERE username = ? AND source = ?').run(until, key, source);
      return until;
    })();
  }

  /** A right password: the address's count starts again, and it is remembered as the account's. */
  succeeded(username: string, source: string): void {
    this.db
      .prepare(
        `INSERT INTO login_throttle (username, source, failures, succeeded_at) VALUES (?, ?, 0, ?)
         ON CONFLICT (username, source) DO UPDATE SET failures = 0, blocked_until = NULL, succeeded_at = excluded.succeeded_at`,
      )
      .run(keyOf(username), source, iso(this.now()));
  }

  /** An admin set a new password: every wait on the account ends. */
  reset(username: string): void {
    this.db.prepare('UPDATE login_throttle SET failures = 0, blocked_until = NULL WHERE username = ?').run(keyOf(username));
  }

  /** Forgets addresses with nothing to remember; returns how many. */
  prune(): number {
    const now = this.now();
    return this.db
      .prepare(
        `DELETE FROM login_throttle WHERE (last_failure_at IS NULL OR last_failure_at < @forget) AND (blocked_until IS NULL OR blocked_until < @now)
         AND (succeeded_at IS NULL OR succeeded_at < @remember)`,
      )
      .run({ forget: iso(now - FORGET_MS), now: iso(now), remember: iso(now - REMEMBER_MS) }).changes;
  }
}
