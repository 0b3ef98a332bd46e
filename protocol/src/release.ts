/**
 * Agent releases (issue 20): the manifest a release bundle carries, its signature by a release
 * key (Ed25519, not the downlink signing key), and the checks a box makes before it installs one.
 * One source of truth for `loalang release pack`, the server that takes uploads, and the agent.
 *
 * A bundle is a gzipped tar holding `manifest.json`, `manifest.sig` and the files under `app/`,
 * each listed in the manifest with its size and SHA-256. The signature covers the manifest's
 * exact bytes, after a prefix of its own, so no other signed bytes of ours can pass for one.
 */
import { createHash, createPrivateKey, sign } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { bytesSignatureValid, keyIdOf, publicKeyOf } from './signing.js';
import type { ServerKey } from './messages.js';
import { parsePayload, type ValidationResult } from './validate.js';

export const RELEASE_VERSION_PATTERN = '^(0|[1-9][0-9]{0,4})\\.(0|[1-9][0-9]{0,4})\\.(0|[1-9][0-9]{0,4})$';
const Version = Type.String({ pattern: RELEASE_VERSION_PATTERN, description: 'MAJOR.MINOR.PATCH' });

/** The CPU architectures a box can have, as Node names them (`process.arch`). */
export const ReleaseArch = Type.Union([Type.Literal('x64'), Type.Literal('arm64')]);
export type ReleaseArch = Static<typeof ReleaseArch>;

export const ReleaseFile = Type.Object({
  /** Relative to the bundle's `app/`, with `/`; no `..`, no leading `/`. */
  path: Type.String({ minLength: 1, maxLength: 400, pattern: '^(?!/)(?!.*(^|/)\\.\\.?(/|$))[^\\\\\\u0000]+$' }),
  size: Type.Integer({ minimum: 0 }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  /** Executable by its owner (bin scripts, prebuilt binaries). */
  executable: Type.Boolean(),
});
export type ReleaseFile = Static<typeof ReleaseFile>;

export const ReleaseManifest = Type.Object({
  format: Type.Literal(1),
  name: Type.Literal('loalang-agent'),
  version: Version,
  platform: Type.Literal('linux'),
  arch: ReleaseArch,
  /**
   * The Node ABI (`process.versions.modules`) the bundle's compiled native modules were built
   * for; null when it holds only Node-API or prebuilt-per-ABI ones. A box running another ABI
   * refuses the bundle rather than crash at start.
   */
  nodeAbi: Type.Union([Type.String({ pattern: '^[0-9]{2,4}$' }), Type.Null()]),
  /** The oldest version a box may install this over (older boxes need a release in between). */
  minPreviousVersion: Version,
  createdAt: Type.String({ format: 'date-time' }),
  /** The agent's start script, relative to `app/`. */
  entry: Type.String({ minLength: 1, maxLength: 200 }),
  files: Type.Array(ReleaseFile, { minItems: 1, maxItems: 100_000 }),
});
export type ReleaseManifest = Static<typeof ReleaseManifest>;

export const ReleaseSignature = Type.Object({
  /** keyIdOf the release key's public half. */
  kid: Type.String({ minLength: 1, maxLength: 64 }),
  /** Ed25519 signature (base64url) of RELEASE_SIGNING_PREFIX + manifest.json's bytes. */
  sig: Type.String({ minLength: 1, maxLength: 200 }),
});
export type ReleaseSignature = Static<typeof ReleaseSignature>;

const RELEASE_SIGNING_PREFIX = Buffer.from('loalang-release-manifest/v1\n');

export function parseReleaseManifest(bytes: Buffer | string): ValidationResult<ReleaseManifest> {
  return parsePayload(ReleaseManifest, bytes, 16 * 1024 * 1024);
}

export function parseReleaseSignature(bytes: Buffer | string): ValidationResult<ReleaseSignature> {
  return parsePayload(ReleaseSignature, bytes);
}

/** Signs a manifest's bytes with a release key (PEM, Ed25519). */
export function signReleaseManifest(manifestBytes: Buffer, privateKeyPem: string): ReleaseSignature {
  const key = createPrivateKey(privateKeyPem);
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError('the release key must be Ed25519');
  return { kid: publicKeyOf(privateKeyPem).kid, sig: sign(null, Buffer.concat([RELEASE_SIGNING_PREFIX, manifestBytes]), key).toString('base64url') };
}

/** The pinned release key that signed these bytes, or null if none did. */
export function releaseSignedBy(manifestBytes: Buffer, signature: ReleaseSignature, pinned: readonly ServerKey[]): ServerKey | null {
  const data = Buffer.concat([RELEASE_SIGNING_PREFIX, manifestBytes]);
  const sig = Buffer.from(signature.sig, 'base64url');
  return pinned.find((k) => k.kid === signature.kid && keyIdOf(k.publicKey) === k.kid && bytesSignatureValid(data, sig, k.publicKey)) ?? null;
}

/** Orders MAJOR.MINOR.PATCH versions: negative when a < b. Other strings sort before every version. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => (new RegExp(RELEASE_VERSION_PATTERN).test(v) ? v.split('.').map(Number) : [-1, -1, -1]);
  const [x, y] = [parse(a), parse(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

/** Why a box refuses a release (also the device's state reason and the audit's). */
export type ReleaseRefusal = 'bad-signature' | 'bad-manifest' | 'changed-file' | 'unlisted-file' | 'missing-file' | 'wrong-arch' | 'wrong-node' | 'downgrade' | 'too-old';

export const RELEASE_REFUSAL_TEXT: Record<ReleaseRefusal, { en: string; vi: string }> = {
  'bad-signature': { en: 'not signed by a pinned release key', vi: 'không được ký bằng khóa phát hành đã ghim' },
  'bad-manifest': { en: 'the manifest is missing or malformed', vi: 'bản kê khai thiếu hoặc sai định dạng' },
  'changed-file': { en: 'a file differs from its manifest entry', vi: 'một tệp khác với bản kê khai' },
  'unlisted-file': { en: 'the bundle holds a file its manifest does not list', vi: 'gói chứa tệp không có trong bản kê khai' },
  'missing-file': { en: 'a file of the manifest is missing', vi: 'thiếu một tệp trong bản kê khai' },
  'wrong-arch': { en: "built for another CPU architecture than the box's", vi: 'được đóng gói cho kiến trúc CPU khác với thiết bị' },
  'wrong-node': { en: "its native modules are built for another Node.js than the box's", vi: 'mô-đun gốc được biên dịch cho phiên bản Node.js khác với thiết bị' },
  downgrade: { en: 'not newer than the version the box runs', vi: 'không mới hơn phiên bản thiết bị đang chạy' },
  'too-old': { en: "the box's version is older than the release's minimum previous version", vi: 'phiên bản trên thiết bị cũ hơn mức tối thiểu mà bản phát hành yêu cầu' },
};

/**
 * What a box checks in a signed manifest before looking at any file: who signed it, that it is
 * for this box (architecture, Node ABI when it matters), and that it moves the box forward.
 */
export function manifestRefusal(
  manifestBytes: Buffer,
  signatureBytes: Buffer,
  box: { pinned: readonly ServerKey[]; arch: string; nodeAbi: string; version: string },
): { refusal: ReleaseRefusal; detail: string } | { manifest: ReleaseManifest } {
  const signature = parseReleaseSignature(signatureBytes);
  if (!signature.ok) return { refusal: 'bad-signature', detail: `manifest.sig: ${signature.reason}` };
  const signer = releaseSignedBy(manifestBytes, signature.value, box.pinned);
  if (!signer) return { refusal: 'bad-signature', detail: `signed by key ${signature.value.kid}, which this box does not pin (or the signature is wrong)` };
  const parsed = parseReleaseManifest(manifestBytes);
  if (!parsed.ok) return { refusal: 'bad-manifest', detail: parsed.reason };
  const m = parsed.value;
  if (m.arch !== box.arch) return { refusal: 'wrong-arch', detail: `bundle for ${m.arch}, box is ${box.arch}` };
  if (m.nodeAbi !== null && m.nodeAbi !== box.nodeAbi) return { refusal: 'wrong-node', detail: `native modules for Node ABI ${m.nodeAbi}, box runs ABI ${box.nodeAbi}` };
  if (compareVersions(m.version, box.version) <= 0) return { refusal: 'downgrade', detail: `release ${m.version}, box runs ${box.version}` };
  if (compareVersions(box.version, m.minPreviousVersion) < 0) return { refusal: 'too-old', detail: `box runs ${box.version}, release needs at least ${m.minPreviousVersion}` };
  return { manifest: m };
}

/** SHA-256 of bytes, hex (the manifest's file hashes). */
export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
