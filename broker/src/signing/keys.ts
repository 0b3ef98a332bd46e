/**
 * The server's Ed25519 signing keys (decision 0016). One key is `active` and signs every
 * downlink; a `next` key may wait beside it while devices learn it from their signed desired
 * state; `retired` keys are kept for the record with their private half erased. Rotation:
 * add a next key, wait until devices have it, activate it, retire the old one.
 */
import { newSigningKey, type ServerKey } from '@loalang/protocol';
import type { Db } from '../store/db.js';
import { brokerError } from '../errors.js';

const conflict = (en: string, vi: string) => brokerError('LOA_ERR_CONFLICT', { en, vi });

export type SigningKeyState = 'next' | 'active' | 'retired';

export interface SigningKeyInfo extends ServerKey {
  state: SigningKeyState;
  createdAt: string;
  activatedAt: string | null;
  retiredAt: string | null;
}

type Row = { kid: string; public_key: string; private_key_pem: string | null; state: SigningKeyState; created_at: string; activated_at: string | null; retired_at: string | null };

const info = (r: Row): SigningKeyInfo => ({ kid: r.kid, publicKey: r.public_key, state: r.state, createdAt: r.created_at, activatedAt: r.activated_at, retiredAt: r.retired_at });

export class SigningKeys {
  /** Called after every change, so the signer and devices can follow. */
  onChange: () => void = () => undefined;

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {}

  list(): SigningKeyInfo[] {
    const rows = this.db.prepare(`SELECT * FROM signing_keys ORDER BY created_at, kid`).all() as Row[];
    return rows.map(info);
  }

  /** The key that signs, made on first start (logged by the caller). */
  active(): { key: SigningKeyInfo; privateKeyPem: string; created: boolean } {
    const row = this.db.prepare(`SELECT * FROM signing_keys WHERE state = 'active'`).get() as Row | undefined;
    if (row?.private_key_pem) return { key: info(row), privateKeyPem: row.private_key_pem, created: false };
    const k = newSigningKey();
    const at = new Date(this.now()).toISOString();
    this.db.prepare(`INSERT INTO signing_keys (kid, public_key, private_key_pem, state, created_at, activated_at) VALUES (?, ?, ?, 'active', ?, ?)`).run(k.kid, k.publicKey, k.privateKeyPem, at, at);
    return { key: this.get(k.kid), privateKeyPem: k.privateKeyPem, created: true };
  }

  /** What devices should trust: the active key, then the next one if there is one. */
  trusted(): ServerKey[] {
    const rows = this.db.prepare(`SELECT kid, public_key FROM signing_keys WHERE state IN ('active', 'next') ORDER BY state = 'next', kid`).all() as { kid: string; public_key: string }[];
    return rows.map((r) => ({ kid: r.kid, publicKey: r.public_key }));
  }

  get(kid: string): SigningKeyInfo {
    const row = this.db.prepare(`SELECT * FROM signing_keys WHERE kid = ?`).get(kid) as Row | undefined;
    if (!row) throw brokerError('LOA_ERR_NOT_FOUND', { en: `signing key ${kid}`, vi: `khoá ký ${kid}` });
    return info(row);
  }

  /** Makes the next key (at most one waits at a time). */
  addNext(): SigningKeyInfo {
    const k = newSigningKey();
    this.db.transaction(() => {
      if (this.db.prepare(`SELECT 1 FROM signing_keys WHERE state = 'next'`).get()) {
        throw conflict('a next signing key already waits: activate or retire it first', 'đã có một khoá ký kế tiếp đang chờ: hãy kích hoạt hoặc thu hồi nó trước');
      }
      this.db.prepare(`INSERT INTO signing_keys (kid, public_key, private_key_pem, state, created_at) VALUES (?, ?, ?, 'next', ?)`).run(k.kid, k.publicKey, k.privateKeyPem, new Date(this.now()).toISOString());
    })();
    this.onChange();
    return this.get(k.kid);
  }

  /** The next key starts signing; the key it replaces is retired. */
  activate(kid: string): SigningKeyInfo {
    const at = new Date(this.now()).toISOString();
    this.db.transaction(() => {
      const key = this.get(kid);
      if (key.state !== 'next') throw conflict(`only the next key can be activated (this one is ${key.state})`, `chỉ khoá kế tiếp mới kích hoạt được (khoá này đang ở trạng thái ${key.state})`);
      this.db.prepare(`UPDATE signing_keys SET state = 'retired', retired_at = ?, private_key_pem = NULL WHERE state = 'active'`).run(at);
      this.db.prepare(`UPDATE signing_keys SET state = 'active', activated_at = ? WHERE kid = ?`).run(at, kid);
    })();
    this.onChange();
    return this.get(kid);
  }

  /** Drops a next key that will not be used; the active key can only be replaced, not retired. */
  retire(kid: string): SigningKeyInfo {
    const key = this.get(kid);
    if (key.state === 'active') throw conflict('the active key cannot be retired: activate a next key instead', 'không thể thu hồi khoá đang dùng: hãy kích hoạt một khoá kế tiếp thay thế');
    if (key.state === 'next') {
      this.db.prepare(`UPDATE signing_keys SET state = 'retired', retired_at = ?, private_key_pem = NULL WHERE kid = ?`).run(new Date(this.now()).toISOString(), kid);
      this.onChange();
    }
    return this.get(kid);
  }
}
