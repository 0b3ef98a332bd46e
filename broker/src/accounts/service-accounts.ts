/**
 * Service accounts (issue 21): API keys for machines (the national warning system's feeder, a
 * CAP gateway, a dashboard). Each has one role over one area subtree, as a user has, and acts
 * through the same permission and area checks. The key, `loa_sa_<prefix>_<secret>` with 256
 * random bits of secret, is shown once; only its SHA-256 is stored (a key this random needs no
 * slow hash, and argon2 on every API request would cost ~30 ms of CPU each: decision 0028). A
 * key is found by its prefix (public, shown in lists) and then compared in constant time.
 *
 * The account is also a row of `users` (kind 'service', username `sa:<name>`, a password hash no
 * password verifies), so what it creates names it through the existing `created_by` keys and the
 * audit log attributes its requests to `sa:<name>`: human usernames cannot hold a colon.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { sql, type Selectable } from 'kysely';
import { newId } from '@loalang/protocol';
import type { Database } from '../store/database.js';
import type { ServiceAccountsTable } from '../store/schema.js';
import { brokerError } from '../errors.js';
import { iso } from '../time.js';
import { subtreeCte } from '../areas/areas.js';
import { isRole, type Role } from './roles.js';
import type { Caller } from './scope.js';

export const KEY_PREFIX = 'loa_sa_';
/** Hex characters of a key's public prefix (40 random bits: a collision is refused and retried). */
const PREFIX_CHARS = 10;
export const DEFAULT_KEY_DAYS = 365;
export const MAX_KEY_DAYS = 730;
export const DEFAULT_RATE_PER_MINUTE = 600;
export const MAX_RATE_PER_MINUTE = 100_000;
/** lastUsedAt is written at most this often per key: not one write per API request. */
export const LAST_USED_EVERY_MS = 60_000;
const DAY_MS = 24 * 3600_000;

export type ServiceAccountState = 'active' | 'revoked' | 'expired';

export interface ServiceAccount {
  id: string;
  name: string;
  description: string;
  role: Role;
  areaId: string;
  /** The key's public prefix: `loa_sa_<prefix>_…`, enough to tell keys apart in lists and the audit log. */
  prefix: string;
  rateLimitPerMinute: number;
  createdBy: string | null;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  rotatedAt: string | null;
  lastUsedAt: string | null;
  lastUsedFrom: string | null;
  state: ServiceAccountState;
}

/** What is stored of a key: its SHA-256, hex (as for session tokens). */
export const keyDigest = (key: string) => createHash('sha256').update(key).digest('hex');

export function newKey(): { key: string; prefix: string } {
  const prefix = randomBytes(PREFIX_CHARS / 2).toString('hex');
  return { key: `${KEY_PREFIX}${prefix}_${randomBytes(32).toString('base64url')}`, prefix };
}

/** The prefix a presented key names, or null when it is not shaped as one of ours. */
export function prefixOf(key: string): string | null {
  if (!key.startsWith(KEY_PREFIX) || key.length > 200) return null;
  const prefix = key.slice(KEY_PREFIX.length, KEY_PREFIX.length + PREFIX_CHARS);
  return /^[0-9a-f]{10}$/.test(prefix) && key[KEY_PREFIX.length + PREFIX_CHARS] === '_' ? prefix : null;
}

export function isServiceKey(token: string): boolean {
  return token.startsWith(KEY_PREFIX);
}

const COLUMNS = sql`s.id, s.name, s.description, s.key_prefix, s.key_hash, s.rate_limit_per_minute, s.created_by, s.created_at, s.expires_at, s.revoked_at, s.rotated_at, s.last_used_at, s.last_used_from, u.role, u.area_id`;
type Row = Selectable<ServiceAccountsTable> & { role: string; area_id: string };

function toAccount(r: Row, now: number): ServiceAccount {
  if (!isRole(r.role)) throw new Error(`stored service account ${r.id} has unknown role ${r.role}`);
  const state: ServiceAccountState = r.revoked_at ? 'revoked' : Date.parse(r.expires_at) <= now ? 'expired' : 'active';
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    role: r.role,
    areaId: r.area_id,
    prefix: r.key_prefix,
    rateLimitPerMinute: Number(r.rate_limit_per_minute),
    createdBy: r.created_by,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    rotatedAt: r.rotated_at,
    lastUsedAt: r.last_used_at,
    lastUsedFrom: r.last_used_from,
    state,
  };
}

const notFound = (id: string) => brokerError('LOA_ERR_NOT_FOUND', { en: `service account ${id}`, vi: `tài khoản dịch vụ ${id}` });

export interface NewServiceAccount {
  name: string;
  description?: string;
  role: Role;
  areaId: string;
  expiresInDays?: number;
  rateLimitPerMinute?: number;
  createdBy: string | null;
}

/** Who a key stands for, or why it is refused. */
export type KeyCheck =
  | { ok: true; account: ServiceAccount; caller: Caller }
  | { ok: false; reason: 'unknown' | 'revoked' | 'expired'; account?: ServiceAccount };

export class ServiceAccountRepo {
  constructor(
    private readonly db: Database,
    private readonly now: () => number = Date.now,
  ) {}

  private expiry(days: number | undefined): string {
    const d = days ?? DEFAULT_KEY_DAYS;
    if (!(Number.isInteger(d) && d >= 1 && d <= MAX_KEY_DAYS)) {
      throw brokerError('LOA_ERR_INVALID', { en: `a key lives 1 to ${MAX_KEY_DAYS} days`, vi: `khóa có hạn từ 1 đến ${MAX_KEY_DAYS} ngày` });
    }
    return iso(this.now() + d * DAY_MS);
  }

  async list(): Promise<ServiceAccount[]> {
    const { rows } = await sql<Row>`SELECT ${COLUMNS} FROM service_accounts s JOIN users u ON u.id = s.id ORDER BY s.name, s.id`.execute(this.db);
    const now = this.now();
    return rows.map((r) => toAccount(r, now));
  }

  async get(id: string): Promise<ServiceAccount | null> {
    const { rows } = await sql<Row>`SELECT ${COLUMNS} FROM service_accounts s JOIN users u ON u.id = s.id WHERE s.id = ${id}`.execute(this.db);
    return rows[0] ? toAccount(rows[0], this.now()) : null;
  }

  async require(id: string): Promise<ServiceAccount> {
    const account = await this.get(id);
    if (!account) throw notFound(id);
    return account;
  }

  /** A new account and its key, which is never shown again. */
  async create(input: NewServiceAccount): Promise<{ account: ServiceAccount; key: string }> {
    const expiresAt = this.expiry(input.expiresInDays);
    const id = newId();
    const at = iso(this.now());
    const { key, prefix } = newKey();
    await this.db.transaction().execute(async (trx) => {
      // The unique names decide (case-insensitively, both dialects), not a look beforehand.
      const inserted = await trx
        .insertInto('users')
        .values({ id, username: `sa:${input.name}`, password_hash: '!service-account', role: input.role, area_id: input.areaId, disabled: 0, created_at: at, kind: 'service' })
        .onConflict((oc) => oc.column('username').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!inserted) throw brokerError('LOA_ERR_CONFLICT', { en: `service account ${input.name} exists`, vi: `tài khoản dịch vụ ${input.name} đã tồn tại` });
      await trx
        .insertInto('service_accounts')
        .values({
          id,
          name: input.name,
          description: input.description ?? '',
          key_prefix: prefix,
          key_hash: keyDigest(key),
          rate_limit_per_minute: input.rateLimitPerMinute ?? DEFAULT_RATE_PER_MINUTE,
          created_by: input.createdBy,
          created_at: at,
          expires_at: expiresAt,
        })
        .execute();
    });
    return { account: await this.require(id), key };
  }

  /** A new key in place of the old one, which stops working at once; optionally a new lifetime. */
  async rotate(id: string, expiresInDays?: number): Promise<{ account: ServiceAccount; key: string }> {
    const current = await this.require(id);
    if (current.state === 'revoked') throw brokerError('LOA_ERR_CONFLICT', { en: 'the key was revoked', vi: 'khóa đã bị thu hồi' });
    const { key, prefix } = newKey();
    const set = { key_prefix: prefix, key_hash: keyDigest(key), rotated_at: iso(this.now()), ...(expiresInDays !== undefined ? { expires_at: this.expiry(expiresInDays) } : {}) };
    // Revoked meanwhile by another server: nothing is changed and no key is given.
    const result = await this.db.updateTable('service_accounts').set(set).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw brokerError('LOA_ERR_CONFLICT', { en: 'the key was revoked', vi: 'khóa đã bị thu hồi' });
    return { account: await this.require(id), key };
  }

  /** The key stops working at once; the account stays, for the record. Revoking twice changes nothing. */
  async revoke(id: string): Promise<ServiceAccount> {
    await this.require(id);
    await this.db.updateTable('service_accounts').set({ revoked_at: iso(this.now()) }).where('id', '=', id).where('revoked_at', 'is', null).execute();
    return this.require(id);
  }

  async update(id: string, patch: { description?: string; rateLimitPerMinute?: number }): Promise<ServiceAccount> {
    await this.require(id);
    const set: { description?: string; rate_limit_per_minute?: number } = {};
    if (patch.description !== undefined) set.description = patch.description;
    if (patch.rateLimitPerMinute !== undefined) set.rate_limit_per_minute = patch.rateLimitPerMinute;
    if (Object.keys(set).length) await this.db.updateTable('service_accounts').set(set).where('id', '=', id).execute();
    return this.require(id);
  }

  /**
   * The caller a key stands for, with its scope, in one query (as for session tokens). The key is
   * found by its prefix, then its hash compared in constant time; a wrong key says nothing about
   * the account its prefix names.
   */
  async check(key: string): Promise<KeyCheck> {
    const prefix = prefixOf(key);
    if (!prefix) return { ok: false, reason: 'unknown' };
    const { rows } = await sql<Row & { username: string; user_created_at: string; scope_id: string | null; area_count: number | string }>`WITH RECURSIVE caller AS (
           SELECT ${COLUMNS}, u.username, u.created_at AS user_created_at FROM service_accounts s JOIN users u ON u.id = s.id WHERE s.key_prefix = ${prefix}),
         ${subtreeCte(sql`SELECT a.id FROM areas a JOIN caller ON a.id = caller.area_id`)}
         SELECT caller.*, sub.id AS scope_id, (SELECT COUNT(*) FROM areas) AS area_count FROM caller LEFT JOIN sub ON 1 = 1`.execute(this.db);
    const first = rows[0];
    if (!first) return { ok: false, reason: 'unknown' };
    const stored = Buffer.from(first.key_hash, 'hex');
    const given = Buffer.from(keyDigest(key), 'hex');
    if (stored.length !== given.length || !timingSafeEqual(stored, given)) return { ok: false, reason: 'unknown' };
    const account = toAccount(first, this.now());
    if (account.state !== 'active') return { ok: false, reason: account.state, account };
    const scope = new Set(rows.flatMap((r) => (r.scope_id === null ? [] : [r.scope_id])));
    const user = { id: account.id, username: first.username, role: account.role, areaId: account.areaId, disabled: false, createdAt: first.user_created_at };
    return { ok: true, account, caller: { user, scope, wholeTree: scope.size > 0 && scope.size >= Number(first.area_count), serviceAccount: { id: account.id, name: account.name, prefix: account.prefix } } };
  }

  /** Records a use, unless one was recorded within the last minute (every node reads the same row). */
  async touch(account: ServiceAccount, source: string): Promise<boolean> {
    const now = this.now();
    if (account.lastUsedAt && Date.parse(account.lastUsedAt) > now - LAST_USED_EVERY_MS) return false;
    await this.db.updateTable('service_accounts').set({ last_used_at: iso(now), last_used_from: source.slice(0, 100) }).where('id', '=', account.id).execute();
    return true;
  }
}
