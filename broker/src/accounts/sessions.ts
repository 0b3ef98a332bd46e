/**
 * Bearer tokens: 32 random bytes given to the client once; only their SHA-256 is stored
 * (a high-entropy token needs no slow hash), so a copied database yields no usable token.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Database } from '../store/database.js';
import { iso } from '../time.js';

export const DEFAULT_TOKEN_TTL_MS = 12 * 60 * 60 * 1000;

/** What is stored of a token: its SHA-256, hex. */
export const tokenDigest = (token: string) => createHash('sha256').update(token).digest('hex');

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
    await this.db.insertInto('sessions').values({ token_hash: tokenDigest(token), user_id: userId, created_at: iso(now), expires_at: expiresAt }).execute();
    return { token, expiresAt };
  }

  async revoke(token: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('token_hash', '=', tokenDigest(token)).execute();
  }

  async revokeAllFor(userId: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
  }

  async pruneExpired(): Promise<number> {
    const result = await this.db.deleteFrom('sessions').where('expires_at', '<=', iso(this.now())).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
