/**
 * The signature of a message the server sends out (webhooks, the upstream connector), as
 * integrators know it from payment webhooks: `X-LoaLang-Signature: t=<unix seconds>,v1=<hex>`,
 * where v1 is HMAC-SHA256 with the shared secret over `<t>.<body>`. The time is signed with
 * the body so a captured request cannot be replayed later (the receiver checks it is recent).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-LoaLang-Signature';
/** How old a signature a receiver should accept, by default: five minutes. */
export const SIGNATURE_TOLERANCE_MS = 5 * 60_000;

const mac = (secret: string, t: number, body: string) => createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');

export function signatureHeader(secret: string, body: string, atMs: number): string {
  const t = Math.floor(atMs / 1000);
  return `t=${t},v1=${mac(secret, t, body)}`;
}

/** Whether `header` signs `body` with `secret`, made within `toleranceMs` of `nowMs`. */
export function verifySignature(secret: string, body: string, header: string, nowMs: number, toleranceMs = SIGNATURE_TOLERANCE_MS): boolean {
  const parts = new Map(header.split(',').map((p) => p.trim().split('=', 2) as [string, string]));
  const t = Number(parts.get('t'));
  const given = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || !/^[0-9a-f]{64}$/.test(given)) return false;
  if (Math.abs(nowMs - t * 1000) > toleranceMs) return false;
  return timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(mac(secret, t, body), 'hex'));
}
