/**
 * Trusting the server over TLS: the agent pins the CA from its config (`caFile`) for MQTT and
 * for content downloads, so a server with any other certificate — even a publicly valid one —
 * is refused. Node's built-in fetch cannot be given a CA, so downloads use undici's with a
 * dispatcher that trusts exactly that CA.
 */
import { readFileSync } from 'node:fs';
import { Agent, fetch as undiciFetch } from 'undici';
import { agentError } from '../errors.js';
import type { FetchLike } from '../storage/content-cache.js';

export function readCa(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw agentError('LOA_ERR_CONFIG', `config key "caFile": cannot read ${path}: ${(err as Error).message}`);
  }
  if (!pem.includes('BEGIN CERTIFICATE')) throw agentError('LOA_ERR_CONFIG', `config key "caFile": ${path} is not a PEM certificate`);
  return pem;
}

export function fetchTrusting(ca: string): FetchLike {
  const dispatcher = new Agent({ connect: { ca, rejectUnauthorized: true } });
  return ((input: Parameters<FetchLike>[0], init?: Parameters<FetchLike>[1]) =>
    undiciFetch(input as Parameters<typeof undiciFetch>[0], { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher })) as unknown as FetchLike;
}
