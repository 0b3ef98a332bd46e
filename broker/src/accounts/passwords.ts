/**
 * Secrets are stored as argon2id hashes (OWASP's first choice). Parameters follow
 * OWASP's minimum (19 MiB, t=2, p=1): about 30 ms per check on a small server.
 */
import { hash, verify, Algorithm } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';

const OPTIONS = { algorithm: Algorithm.Argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashSecret(secret: string): Promise<string> {
  return hash(secret, OPTIONS);
}

export async function verifySecret(storedHash: string, secret: string): Promise<boolean> {
  try {
    return await verify(storedHash, secret);
  } catch {
    return false;
  }
}

/** A random secret for devices and first-start admin passwords: 18 bytes → 24 url-safe chars. */
export function randomSecret(bytes = 18): string {
  return randomBytes(bytes).toString('base64url');
}
