/**
 * Bearer tokens: 32 random bytes given to the client once; only their SHA-256 is stored
 * (a high-entropy token needs no slow hash), so a copied database yields no usable token.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Database } from '../store/database.js';
import { iso } from '../time.js';

export const DEFAULT_TOKEN_TTL_MS = 12 * 60 * 60 * 1000;

const digest = (token: string) => createHash('sha256').update(token).digest('hex');

export class SessionRepo {
  constructor(
    private readonly db: Database,
    private readonly now: () => number,
    private readonly ttlMs = DEFAULT_TOKEN_TTL_MS,
  ) {}

  async issue(userId: string): Promise<{ token: string; expiresAt: string }> {
    const token = randomBytes(32).toString('base64url');
    const now = this.now();
    const expiresAt = iso(now + this.ttlMs);
    await this.db.insertInto('sessions').values({ token_hash: digest(token), user_id: userId, created_at: iso(now), expires_at: expiresAt }).execute();
    return { token, expiresAt };
  }

  /** The user id behind a live token, or null. */
  async resolve(token: string): Promise<string | null> {
    const row = await this.db.selectFrom('sessions').select(['user_id', 'expires_at']).where('token_hash', '=', digest(token)).executeTakeFirst();
    if (!row || Date.parse(row.expires_at) <= this.now()) return null;
    return row.user_id;
  }

  async revoke(token: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('token_hash', '=', digest(token)).execute();
  }

  async revokeAllFor(userId: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
  }

  async pruneExpired(): Promise<number> {
    const result = await this.db.deleteFrom('sessions').where('expires_at', '<=', iso(this.now())).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
