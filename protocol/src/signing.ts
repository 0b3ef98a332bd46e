/**
 * Signed downlink (issue 8, decision 0016). Every message the server sends a device travels in
 * an envelope signed with Ed25519 over the canonical JSON (RFC 8785) of everything but the
 * signature: the message kind, its recipient (`dev/<id>` or `area/<id>`), issue and expiry
 * instants (server time, ms), a sequence number that only grows, the key id, and the body.
 * A captured message cannot be sent to another device (recipient), changed (signature),
 * used late (expiry) or played again (sequence).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { parsePayload, type ValidationResult } from './validate.js';
import { ServerKey } from './messages.js';

export const SignedEnvelope = Type.Object(
  {
    v: Type.Literal(1),
    kind: Type.String({ minLength: 1, maxLength: 32 }),
    to: Type.String({ pattern: '^(dev|area)/[A-Za-z0-9_-]{1,64}$' }),
    iat: Type.Integer({ minimum: 0 }),
    exp: Type.Integer({ minimum: 0 }),
    seq: Type.Integer({ minimum: 1 }),
    kid: ServerKey.properties.kid,
    body: Type.Unknown(),
    /** Ed25519 signature (64 bytes, base64url) of canonicalJson(envelope without `sig`). */
    sig: Type.String({ pattern: '^[A-Za-z0-9_-]{86}$' }),
  },
  { additionalProperties: false },
);
export type SignedEnvelope = Static<typeof SignedEnvelope>;
export type UnsignedEnvelope = Omit<SignedEnvelope, 'sig'>;

/** How long a signed downlink stays valid after it is issued (it is meant for now, not later). */
export const DOWNLINK_TTL_MS = 5 * 60_000;

/**
 * RFC 8785 (JSON Canonicalization Scheme) for the values JSON.parse gives: object keys sorted
 * by UTF-16 code units, no white space, ECMAScript number and string forms. Properties whose
 * value is undefined are left out, as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('canonicalJson: numbers must be finite');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  throw new TypeError(`canonicalJson: cannot encode a ${typeof value}`);
}

/** A key's id: the first 9 bytes of the SHA-256 of its raw public key, base64url (12 characters). */
export function keyIdOf(publicKey: string): string {
  return createHash('sha256').update(Buffer.from(publicKey, 'base64url')).digest().subarray(0, 9).toString('base64url');
}

export interface SigningKeyPair extends ServerKey {
  privateKeyPem: string;
}

export function newSigningKey(): SigningKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKeyText(publicKey);
  return { kid: keyIdOf(raw), publicKey: raw, privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

function publicKeyText(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new TypeError('not an Ed25519 key');
  return jwk.x;
}

/** The public half of a PEM private key, as agents pin it. */
export function publicKeyOf(privateKeyPem: string): ServerKey {
  const raw = publicKeyText(createPublicKey(createPrivateKey(privateKeyPem)));
  return { kid: keyIdOf(raw), publicKey: raw };
}

/** Signs with one private key; the caller supplies the instants and the sequence number. */
export class EnvelopeSigner {
  readonly kid: string;
  private readonly key: KeyObject;

  constructor(privateKeyPem: string) {
    this.key = createPrivateKey(privateKeyPem);
    if (this.key.asymmetricKeyType !== 'ed25519') throw new TypeError('the signing key must be Ed25519');
    this.kid = keyIdOf(publicKeyText(createPublicKey(this.key)));
  }

  /** Signs raw bytes (a live frame group, live.ts): callers put a prefix of their own first, so no such bytes can pass for an envelope. */
  signBytes(data: Buffer): Buffer {
    return sign(null, data, this.key);
  }

  seal(fields: Omit<UnsignedEnvelope, 'v' | 'kid'>): Buffer {
    const unsigned: UnsignedEnvelope = { v: 1, kind: fields.kind, to: fields.to, iat: fields.iat, exp: fields.exp, seq: fields.seq, kid: this.kid, body: fields.body };
    const sig = sign(null, Buffer.from(canonicalJson(unsigned)), this.key).toString('base64url');
    return Buffer.from(JSON.stringify({ ...unsigned, sig }));
  }
}

/** Parses a downlink payload as an envelope (size limit, JSON, shape); says nothing about trust. */
export function parseEnvelope(payload: Buffer | string): ValidationResult<SignedEnvelope> {
  return parsePayload(SignedEnvelope, payload);
}

const publicKeys = new Map<string, KeyObject>();

/** A pinned public key (raw, base64url) as Node's crypto takes it; null if it is not one. */
function publicKeyObject(publicKey: string): KeyObject | null {
  let key = publicKeys.get(publicKey);
  if (!key) {
    try {
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' });
    } catch {
      return null;
    }
    publicKeys.set(publicKey, key);
  }
  return key;
}

/** Whether `signature` is a valid Ed25519 signature of `data` by this public key (live frame groups). */
export function bytesSignatureValid(data: Buffer, signature: Buffer, publicKey: string): boolean {
  const key = publicKeyObject(publicKey);
  if (!key) return false;
  try {
    return verify(null, data, key, signature);
  } catch {
    return false;
  }
}

/** Whether `envelope.sig` is a valid signature of the rest by this public key. */
export function signatureValid(envelope: SignedEnvelope, publicKey: string): boolean {
  const key = publicKeyObject(publicKey);
  if (!key) return false;
  const { sig, ...unsigned } = envelope;
  try {
    return verify(null, Buffer.from(canonicalJson(unsigned)), key, Buffer.from(sig, 'base64url'));
  } catch {
    return false; // a body canonicalJson cannot encode was never signed by us
  }
}
