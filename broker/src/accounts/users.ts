/**
 * Users: one role over one area subtree; passwords stored as argon2id hashes. Service accounts
 * (issue 21) have a row here too, of kind 'service', which this repository neither lists nor
 * changes nor lets log in: accounts/service-accounts.ts owns them.
 */
import { sql, type Selectable, type Updateable } from 'kysely';
import type { Database } from '../store/database.js';
import type { UsersTable } from '../store/schema.js';
import { brokerError } from '../errors.js';
import { newId } from '@loalang/protocol';
import { iso } from '../time.js';
import { hashSecret, verifySecret } from './passwords.js';
import { tokenDigest } from './sessions.js';
import { isRole, type Role } from './roles.js';
import { subtreeCte } from '../areas/areas.js';

export interface User {
  id: string;
  username: string;
  role: Role;
  areaId: string;
  disabled: boolean;
  createdAt: string;
}

/** The columns a User is read from (the password hash only where it is checked). */
const USER_COLUMNS = ['id', 'username', 'role', 'area_id', 'disabled', 'created_at'] as const;

type Row = Pick<Selectable<UsersTable>, (typeof USER_COLUMNS)[number]>;

function toUser(r: Row): User {
  if (!isRole(r.role)) throw new Error(`stored user ${r.id} has unknown role ${r.role}`);
  return { id: r.id, username: r.username, role: r.role, areaId: r.area_id, disabled: r.disabled === 1, createdAt: r.created_at };
}

const notFound = (id: string) => brokerError('LOA_ERR_NOT_FOUND', { en: `user ${id}`, vi: `người dùng ${id}` });

export const MIN_PASSWORD_LENGTH = 10;

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw brokerError('LOA_ERR_INVALID', {
      en: `password must have at least ${MIN_PASSWORD_LENGTH} characters`,
      vi: `mật khẩu phải có ít nhất ${MIN_PASSWORD_LENGTH} ký tự`,
    });
  }
}

/** A fixed hash to verify against when the user does not exist, so timing does not reveal usernames. */
let dummyHash: Promise<string> | undefined;

export class UserRepo {
  constructor(
    private readonly db: Database,
    /** The clock's time (ms): injected, so tests can run on a manual clock. */
    private readonly now: () => number = Date.now,
  ) {}

  async count(): Promise<number> {
    const row = await this.db.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).where('kind', '=', 'person').executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * The caller behind a live session token, their user and their scope (their area and every
   * area below it) in one query: every API request asks it, and on PostgreSQL each query is a
   * round trip (the session, the user and the scope had made three).
   */
  async callerBySessionToken(token: string): Promise<{ user: User; scope: Set<string>; wholeTree: boolean } | null> {
    const { rows } = await sql<Row & { scope_id: string | null; area_count: number | string }>`WITH RECURSIVE caller AS (
           SELECT u.id, u.username, u.role, u.area_id, u.disabled, u.created_at FROM sessions s JOIN users u ON u.id = s.user_id
           WHERE s.token_hash = ${tokenDigest(token)} AND s.expires_at > ${iso(this.now())}),
         ${subtreeCte(sql`SELECT a.id FROM areas a JOIN caller ON a.id = caller.area_id`)}
         SELECT caller.*, sub.id AS scope_id, (SELECT COUNT(*) FROM areas) AS area_count FROM caller LEFT JOIN sub ON 1 = 1`.execute(this.db);
    const first = rows[0];
    if (!first) return null;
    const scope = new Set(rows.flatMap((r) => (r.scope_id === null ? [] : [r.scope_id])));
    return { user: toUser(first), scope, wholeTree: scope.size > 0 && scope.size >= Number(first.area_count) };
  }

  async get(id: string): Promise<User | null> {
    const row = await this.db.selectFrom('users').select(USER_COLUMNS).where('id', '=', id).where('kind', '=', 'person').executeTakeFirst();
    return row ? toUser(row) : null;
  }

  async require(id: string): Promise<User> {
    const user = await this.get(id);
    if (!user) throw notFound(id);
    return user;
  }

  async list(): Promise<User[]> {
    // `id` breaks ties (none expected: usernames are unique, case-insensitively).
    const rows = await this.db.selectFrom('users').select(USER_COLUMNS).where('kind', '=', 'person').orderBy('username').orderBy('id').execute();
    return rows.map(toUser);
  }

  async create(input: { username: string; password: string; role: Role; areaId: string }): Promise<User> {
    checkPassword(input.password);
    const user: User = { id: newId(), username: input.username, role: input.role, areaId: input.areaId, disabled: false, createdAt: iso(this.now()) };
    const passwordHash = await hashSecret(input.password);
    // The unique username decides, not a look beforehand: of two servers creating the same
    // name at once, one inserts and the other is told it is taken (case-insensitively in both dialects).
    const inserted = await this.db
      .insertInto('users')
      .values({ id: user.id, username: user.username, password_hash: passwordHash, role: user.role, area_id: user.areaId, disabled: 0, created_at: user.createdAt })
      .onConflict((oc) => oc.column('username').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) {
      throw brokerError('LOA_ERR_CONFLICT', { en: `username ${input.username} is taken`, vi: `tên đăng nhập ${input.username} đã tồn tại` });
    }
    return user;
  }

  async update(id: string, patch: { password?: string; role?: Role; areaId?: string; disabled?: boolean }): Promise<User> {
    const current = await this.require(id);
    if (patch.password !== undefined) checkPassword(patch.password);
    // Only the fields given are written, in one statement that returns the row as it now is:
    // writing back a copy read earlier would undo another server's change made meanwhile.
    const set: Updateable<UsersTable> = {};
    if (patch.password !== undefined) set.password_hash = await hashSecret(patch.password);
    if (patch.role) set.role = patch.role;
    if (patch.areaId) set.area_id = patch.areaId;
    if (patch.disabled !== undefined) set.disabled = patch.disabled ? 1 : 0;
    if (Object.keys(set).length === 0) return current;
    const row = await this.db.updateTable('users').set(set).where('id', '=', id).where('kind', '=', 'person').returning(USER_COLUMNS).executeTakeFirst();
    if (!row) throw notFound(id);
    return toUser(row);
  }

  async delete(id: string): Promise<void> {
    const result = await this.db.deleteFrom('users').where('id', '=', id).where('kind', '=', 'person').executeTakeFirst();
    if (result.numDeletedRows === 0n) throw notFound(id);
  }

  /**
   * Resolves the user when the password is right and the account enabled, else null, taking
   * about as long for an unknown user. Wrong passwords are counted by LoginThrottle, per
   * account and source address, not here: an account is never locked as a whole.
   */
  async authenticate(username: string, password: string): Promise<User | null> {
    // A service account's row (kind 'service', issue 21) never logs in, whatever its hash.
    const row = await this.db.selectFrom('users').select([...USER_COLUMNS, 'password_hash']).where('username', '=', username).where('kind', '=', 'person').executeTakeFirst();
    if (!row) {
      dummyHash ??= hashSecret('not-a-real-password');
      await verifySecret(await dummyHash, password);
      return null;
    }
    if (!(await verifySecret(row.password_hash, password))) return null;
    if (row.disabled === 1) return null;
    return toUser(row);
  }
}
