/**
 * Brute-force protection that a stranger cannot turn against the account's owner (issue 14:
 * five wrong passwords typed by anyone locked `admin` out for 15 minutes). Following OWASP's
 * advice, wrong passwords are counted per account *and source address*: after THROTTLE_AFTER
 * of them, that address waits before its next try on that account, one minute, then twice as
 * long after each further wrong one, up to an hour. The owner, from any other address, is not
 * held up. Against guessing spread over many addresses: once an account collects
 * ACCOUNT_SURGE wrong passwords within the hour, addresses that never logged in to it wait
 * after their first wrong one; addresses it was used from before keep their usual allowance.
 * The counts live in the database, so a restart does not reset them, and servers sharing it share them.
 */
import type { Database } from '../store/database.js';
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
    private readonly db: Database,
    private readonly now: () => number = Date.now,
  ) {}

  /** Until when this address must wait before trying this account again, or null. */
  async blockedUntil(username: string, source: string): Promise<string | null> {
    const row = await this.db.selectFrom('login_throttle').select('blocked_until').where('username', '=', keyOf(username)).where('source', '=', source).executeTakeFirst();
    return row?.blocked_until && Date.parse(row.blocked_until) > this.now() ? row.blocked_until : null;
  }

  /**
   * Counts a wrong password; returns until when the address must now wait, or null. Two
   * servers may count wrong passwords for the same account and address at once: the count is
   * raised by one upsert that returns it (never read, then written back), and the upsert's
   * row lock holds the other server's count until this transaction has set the wait.
   */
  async failed(username: string, source: string): Promise<string | null> {
    const now = this.now();
    const key = keyOf(username);
    const at = iso(now);
    const forget = iso(now - FORGET_MS);
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('login_throttle')
        .values({ username: key, source, failures: 1, last_failure_at: at })
        .onConflict((oc) =>
          oc.columns(['username', 'source']).doUpdateSet((eb) => ({
            // After an hour without a wrong password, the count starts again.
            failures: eb
              .case()
              .when(eb.or([eb('login_throttle.last_failure_at', 'is', null), eb('login_throttle.last_failure_at', '<', forget)]))
              .then(eb.lit(1))
              .else(eb('login_throttle.failures', '+', eb.lit(1)))
              .end(),
            last_failure_at: eb.ref('excluded.last_failure_at'),
          })),
        )
        .returning(['failures', 'succeeded_at'])
        .executeTakeFirstOrThrow();
      const known = row.succeeded_at !== null && Date.parse(row.succeeded_at) > now - REMEMBER_MS;
      const recent = await trx
        .selectFrom('login_throttle')
        .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('failures'), eb.lit(0)).as('n'))
        .where('username', '=', key)
        .where('last_failure_at', '>=', forget)
        .executeTakeFirstOrThrow();
      const allowance = Number(recent.n) >= ACCOUNT_SURGE && !known ? 1 : THROTTLE_AFTER;
      const failures = Number(row.failures);
      if (failures < allowance) return null;
      const until = iso(now + Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(failures - allowance, 20)));
      await trx.updateTable('login_throttle').set({ blocked_until: until }).where('username', '=', key).where('source', '=', source).execute();
      return until;
    });
  }

  /** A right password: the address's count starts again, and it is remembered as the account's. */
  async succeeded(username: string, source: string): Promise<void> {
    await this.db
      .insertInto('login_throttle')
      .values({ username: keyOf(username), source, failures: 0, succeeded_at: iso(this.now()) })
      .onConflict((oc) => oc.columns(['username', 'source']).doUpdateSet((eb) => ({ failures: 0, blocked_until: null, succeeded_at: eb.ref('excluded.succeeded_at') })))
      .execute();
  }

  /** An admin set a new password: every wait on the account ends. */
  async reset(username: string): Promise<void> {
    await this.db.updateTable('login_throttle').set({ failures: 0, blocked_until: null }).where('username', '=', keyOf(username)).execute();
  }

  /** Forgets addresses with nothing to remember; returns how many. */
  async prune(): Promise<number> {
    const now = this.now();
    const forget = iso(now - FORGET_MS);
    const remember = iso(now - REMEMBER_MS);
    const result = await this.db
      .deleteFrom('login_throttle')
      .where((eb) =>
        eb.and([
          eb.or([eb('last_failure_at', 'is', null), eb('last_failure_at', '<', forget)]),
          eb.or([eb('blocked_until', 'is', null), eb('blocked_until', '<', iso(now))]),
          eb.or([eb('succeeded_at', 'is', null), eb('succeeded_at', '<', remember)]),
        ]),
      )
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
