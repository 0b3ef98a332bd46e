/**
 * Bearer tokens: 32 random bytes given to the client once; only their SHA-256 is stored
 * (a high-entropy token needs no slow hash), so a copied database yields no usable token.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../store/db.js';
import { iso } from '../time.js';

export const DEFAULT_TOKEN_TTL_MS = 12 * 60 * 60 * 1000;

const digest = (token: string) => createHash('sha256').update(token).digest('hex');

export class SessionRepo {
  constructor(
    private readonly db: Db,
    private readonly now: () => number,
    private readonly ttlMs = DEFAULT_TOKEN_TTL_MS,
  ) {}

  issue(userId: string): { token: string; expiresAt: string } {
    const token = randomBytes(32).toString('base64url');
    const now = this.now();
    const expiresAt = iso(now + this.ttlMs);
    this.db
      .prepare('INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)')
      .run(digest(token), userId, iso(now), expiresAt);
    return { token, expiresAt };
  }

  /** The user id behind a live token, or null. */
  resolve(token: string): string | null {
    const row = this.db.prepare('SELECT user_id, expires_at FROM sessions WHERE token_hash = ?').get(digest(token)) as
      | { user_id: string; expires_at: string }
      | undefined;
    if (!row || Date.parse(row.expires_at) <= this.now()) return null;
    return row.user_id;
  }

  revoke(token: string): void {
    this.db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(digest(token));
  }

  revokeAllFor(userId: string): void {
    this.db.prepare('DELETE FROM sessions WHERE user_id = ?').run(userId);
  }

  pruneExpired(): number {
    return this.db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(iso(this.now())).changes;
  }
}
