/** Users: one role over one area subtree; passwords stored as argon2id hashes. */
import type { Db } from '../store/db.js';
import { brokerError } from '../errors.js';
import { newId } from '@loalang/protocol';
import { iso } from '../time.js';
import { hashSecret, verifySecret } from './passwords.js';
import { isRole, type Role } from './roles.js';

export interface User {
  id: string;
  username: string;
  role: Role;
  areaId: string;
  disabled: boolean;
  createdAt: string;
}

type Row = {
  id: string;
  username: string;
  password_hash: string;
  role: string;
  area_id: string;
  disabled: number;
  created_at: string;
};

function toUser(r: Row): User {
  if (!isRole(r.role)) throw new Error(`stored user ${r.id} has unknown role ${r.role}`);
  return { id: r.id, username: r.username, role: r.role, areaId: r.area_id, disabled: r.disabled === 1, createdAt: r.created_at };
}

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
    private readonly db: Db,
    /** The clock's time (ms): injected, so tests can run on a manual clock. */
    private readonly now: () => number = Date.now,
  ) {}

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n;
  }

  get(id: string): User | null {
    const row = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as Row | undefined;
    return row ? toUser(row) : null;
  }

  require(id: string): User {
    const user = this.get(id);
    if (!user) throw brokerError('LOA_ERR_NOT_FOUND', { en: `user ${id}`, vi: `người dùng ${id}` });
    return user;
  }

  list(): User[] {
    return (this.db.prepare('SELECT * FROM users ORDER BY username').all() as Row[]).map(toUser);
  }

  async create(input: { username: string; password: string; role: Role; areaId: string }): Promise<User> {
    checkPassword(input.password);
    const exists = this.db.prepare('SELECT 1 FROM users WHERE username = ?').get(input.username);
    if (exists) {
      throw brokerError('LOA_ERR_CONFLICT', { en: `username ${input.username} is taken`, vi: `tên đăng nhập ${input.username} đã tồn tại` });
    }
    const user: User = { id: newId(), username: input.username, role: input.role, areaId: input.areaId, disabled: false, createdAt: iso(this.now()) };
    const passwordHash = await hashSecret(input.password);
    this.db
      .prepare('INSERT INTO users (id, username, password_hash, role, area_id, disabled, created_at) VALUES (?, ?, ?, ?, ?, 0, ?)')
      .run(user.id, user.username, passwordHash, user.role, user.areaId, user.createdAt);
    return user;
  }

  async update(id: string, patch: { password?: string; role?: Role; areaId?: string; disabled?: boolean }): Promise<User> {
    const current = this.require(id);
    if (patch.password !== undefined) {
      checkPassword(patch.password);
      const passwordHash = await hashSecret(patch.password);
      this.db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(passwordHash, id);
    }
    const next = { ...current, ...(patch.role ? { role: patch.role } : {}), ...(patch.areaId ? { areaId: patch.areaId } : {}) };
    if (patch.disabled !== undefined) next.disabled = patch.disabled;
    this.db
      .prepare('UPDATE users SET role = ?, area_id = ?, disabled = ? WHERE id = ?')
      .run(next.role, next.areaId, next.disabled ? 1 : 0, id);
    return next;
  }

  delete(id: string): void {
    this.require(id);
    this.db.prepare('DELETE FROM users WHERE id = ?').run(id);
  }

  /**
   * Resolves the user when the password is right and the account enabled, else null, taking
   * about as long for an unknown user. Wrong passwords are counted by LoginThrottle, per
   * account and source address, not here: an account is never locked as a whole.
   */
  async authenticate(username: string, password: string): Promise<User | null> {
    const row = this.db.prepare('SELECT * FROM users WHERE username = ?').get(username) as Row | undefined;
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
