/** Release manifests (issue 20): versions order numerically; a file path cannot leave `app/`; the signature covers the exact bytes. */
import { describe, expect, it } from 'vitest';
import { compareVersions, newSigningKey, releaseSignedBy, signReleaseManifest, validate, ReleaseFile } from '../src/index.js';

describe('release manifests', () => {
  it('orders versions by number, not as text; anything else sorts first', () => {
    expect(compareVersions('0.10.0', '0.9.9')).toBeGreaterThan(0);
    expect(compareVersions('1.0.0', '1.0.0')).toBe(0);
    expect(compareVersions('2.0.0', '10.0.0')).toBeLessThan(0);
    expect(compareVersions('1.0', '0.0.1')).toBeLessThan(0);
    expect(compareVersions('01.0.0', '0.0.1')).toBeLessThan(0);
  });

  it.each(['../etc/passwd', '/etc/passwd', 'a/../../b', 'a/./b', '.', 'a\\\\b', 'a\u0000b'])('refuses the file path %j', (path) => {
    expect(validate(ReleaseFile, { path, size: 1, sha256: 'a'.repeat(64), executable: false }).ok).toBe(false);
  });

  it.each(['bin/loalang-agent.mjs', 'node_modules/@loalang/protocol/dist/index.js', '.bin-like/x', 'a..b/c'])('takes the file path %j', (path) => {
    expect(validate(ReleaseFile, { path, size: 1, sha256: 'a'.repeat(64), executable: false }).ok).toBe(true);
  });

  it('a signature holds for the exact bytes and the pinned key only', () => {
    const key = newSigningKey();
    const other = newSigningKey();
    const bytes = Buffer.from('{"version":"1.0.0"}\n');
    const sig = signReleaseManifest(bytes, key.privateKeyPem);
    expect(releaseSignedBy(bytes, sig, [other, key])).toMatchObject({ kid: key.kid });
    expect(releaseSignedBy(bytes, sig, [other])).toBeNull();
    expect(releaseSignedBy(Buffer.from('{"version":"1.0.1"}\n'), sig, [key])).toBeNull();
    // A key pinned under another key's id does not pass for it.
    expect(releaseSignedBy(bytes, sig, [{ kid: key.kid, publicKey: other.publicKey }])).toBeNull();
  });
});
