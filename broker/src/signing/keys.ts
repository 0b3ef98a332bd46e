/**
 * The server's Ed25519 signing keys (decision 0016). One key is `active` and signs every
 * downlink; a `next` key may wait beside it while devices learn it from their signed desired
 * state; `retired` keys are kept for the record with their private half erased. Rotation:
 * add a next key, wait until devices have it, activate it, retire the old one.
 *
 * Two server processes may share the database (issue 16), so every state change is a
 * conditional write checked by its row count, never a state read in JavaScript and written
 * back: a key becomes active only `WHERE state = 'next'`, and the unique index on the active
 * state keeps a second active key out.
 */
import { newSigningKey, type ServerKey } from '@loalang/protocol';
import type { Database } from '../store/database.js';
import type { Executor } from '../store/portable.js';
import type { SigningKeysTable } from '../store/schema.js';
import { brokerError } from '../errors.js';

const conflict = (en: string, vi: string) => brokerError('LOA_ERR_CONFLICT', { en, vi });
const notNextConflict = (state: string) => conflict(`only the next key can be activated (this one is ${state})`, `chỉ khoá kế tiếp mới kích hoạt được (khoá này đang ở trạng thái ${state})`);

export type SigningKeyState = 'next' | 'active' | 'retired';

export interface SigningKeyInfo extends ServerKey {
  state: SigningKeyState;
  createdAt: string;
  activatedAt: string | null;
  retiredAt: string | null;
}

const info = (r: SigningKeysTable): SigningKeyInfo => ({
  kid: r.kid,
  publicKey: r.public_key,
  state: r.state as SigningKeyState,
  createdAt: r.created_at,
  activatedAt: r.activated_at,
  retiredAt: r.retired_at,
});

/** Thrown inside activate's transaction to undo it; answered outside with the key's state. */
class NotNext extends Error {}

export class SigningKeys {
  /** Called after every change, so the signer and devices can follow (awaited before the change returns). */
  onChange: () => void | Promise<void> = () => undefined;

  constructor(
    private readonly db: Database,
    private readonly now: () => number,
  ) {}

  async list(): Promise<SigningKeyInfo[]> {
    const rows = await this.db.selectFrom('signing_keys').selectAll().orderBy('created_at').orderBy('kid').execute();
    return rows.map(info);
  }

  /**
   * The key that signs, made on first start (logged by the caller). Two processes starting on
   * an empty database both try to make it: the unique index on the active state lets one
   * insert through (ON CONFLICT DO NOTHING for the other), and both then sign with that one.
   */
  async active(): Promise<{ key: SigningKeyInfo; privateKeyPem: string; created: boolean }> {
    const row = await this.activeRow();
    if (row?.private_key_pem) return { key: info(row), privateKeyPem: row.private_key_pem, created: false };
    const k = newSigningKey();
    const at = new Date(this.now()).toISOString();
    const inserted = await this.db
      .insertInto('signing_keys')
      .values({ kid: k.kid, public_key: k.publicKey, private_key_pem: k.privateKeyPem, state: 'active', created_at: at, activated_at: at })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if ((inserted.numInsertedOrUpdatedRows ?? 0n) > 0n) return { key: await this.get(k.kid), privateKeyPem: k.privateKeyPem, created: true };
    const winner = await this.activeRow();
    if (!winner?.private_key_pem) throw new Error('no active signing key with its private half');
    return { key: info(winner), privateKeyPem: winner.private_key_pem, created: false };
  }

  /** What devices should trust: the active key, then the next one if there is one. */
  async trusted(): Promise<ServerKey[]> {
    const rows = await this.db
      .selectFrom('signing_keys')
      .select(['kid', 'public_key', 'state'])
      .where('state', 'in', ['active', 'next'])
      .orderBy('kid')
      .execute();
    // Active first, then next (the old ORDER BY state = 'next' is a boolean sort PostgreSQL spells differently).
    const rank = (state: string) => (state === 'next' ? 1 : 0);
    return rows.sort((a, b) => rank(a.state) - rank(b.state)).map((r) => ({ kid: r.kid, publicKey: r.public_key }));
  }

  async get(kid: string): Promise<SigningKeyInfo> {
    const row = await this.db.selectFrom('signing_keys').selectAll().where('kid', '=', kid).executeTakeFirst();
    if (!row) throw brokerError('LOA_ERR_NOT_FOUND', { en: `signing key ${kid}`, vi: `khoá ký ${kid}` });
    return info(row);
  }

  /**
   * Makes the next key (at most one waits at a time). No unique index says "one next key", so
   * the transaction first takes the write lock on the active key's row (an UPDATE that changes
   * nothing: a row lock in PostgreSQL, the write lock in SQLite): a second process adding a
   * next key waits there, then sees the first one's key and is refused.
   */
  async addNext(): Promise<SigningKeyInfo> {
    const waiting = () => conflict('a next signing key already waits: activate or retire it first', 'đã có một khoá ký kế tiếp đang chờ: hãy kích hoạt hoặc thu hồi nó trước');
    // Asked first as well, so that only a race ends in a rolled-back transaction.
    if (await this.nextKid(this.db)) throw waiting();
    const k = newSigningKey();
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('signing_keys').set({ state: 'active' }).where('state', '=', 'active').execute();
      if (await this.nextKid(trx)) throw waiting();
      await trx
        .insertInto('signing_keys')
        .values({ kid: k.kid, public_key: k.publicKey, private_key_pem: k.privateKeyPem, state: 'next', created_at: new Date(this.now()).toISOString() })
        .execute();
    });
    await this.onChange();
    return this.get(k.kid);
  }

  /**
   * The next key starts signing; the key it replaces is retired. One transaction: retire the
   * active key, then activate this one only `WHERE state = 'next'`; if that changes no row
   * (it is not the next key, or another process activated or retired it meanwhile) the whole
   * step is undone. So two processes cannot both activate: the second finds no next key.
   */
  async activate(kid: string): Promise<SigningKeyInfo> {
    // Asked first as well, so that only a race ends in a rolled-back transaction.
    const key = await this.get(kid);
    if (key.state !== 'next') throw notNextConflict(key.state);
    const at = new Date(this.now()).toISOString();
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.updateTable('signing_keys').set({ state: 'retired', retired_at: at, private_key_pem: null }).where('state', '=', 'active').execute();
        const activated = await trx.updateTable('signing_keys').set({ state: 'active', activated_at: at }).where('kid', '=', kid).where('state', '=', 'next').executeTakeFirst();
        if (activated.numUpdatedRows === 0n) throw new NotNext();
      });
    } catch (err) {
      if (!(err instanceof NotNext)) throw err;
      throw notNextConflict((await this.get(kid)).state);
    }
    await this.onChange();
    return this.get(kid);
  }

  /**
   * Drops a next key that will not be used; the active key can only be replaced, not retired.
   * Conditional on the key still being next, so a retire racing an activate cannot retire the
   * key that has just become active.
   */
  async retire(kid: string): Promise<SigningKeyInfo> {
    const retired = await this.db
      .updateTable('signing_keys')
      .set({ state: 'retired', retired_at: new Date(this.now()).toISOString(), private_key_pem: null })
      .where('kid', '=', kid)
      .where('state', '=', 'next')
      .executeTakeFirst();
    if (retired.numUpdatedRows > 0n) {
      await this.onChange();
      return this.get(kid);
    }
    const key = await this.get(kid);
    if (key.state === 'active') throw conflict('the active key cannot be retired: activate a next key instead', 'không thể thu hồi khoá đang dùng: hãy kích hoạt một khoá kế tiếp thay thế');
    return key;
  }

  private async nextKid(db: Executor): Promise<string | undefined> {
    return (await db.selectFrom('signing_keys').select('kid').where('state', '=', 'next').executeTakeFirst())?.kid;
  }

  private activeRow(): Promise<SigningKeysTable | undefined> {
    return this.db.selectFrom('signing_keys').selectAll().where('state', '=', 'active').executeTakeFirst();
  }
}
