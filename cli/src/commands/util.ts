/** Small helpers shared by the commands. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses a command's options strictly; a usage error says so in both languages. */
export function parse(args: string[], options: Options) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    const e = err as Error & { code?: string };
    if (!e.code?.startsWith('ERR_PARSE_ARGS')) throw err;
    throw Object.assign(new Error(`${e.message} (see loalang --help)`), { messageVi: 'tùy chọn không hợp lệ (xem loalang --help)', code: 'LOA_ERR_USAGE' });
  }
}


export function intOption(value: unknown, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`--${name} must be a whole number ≥ 0 / --${name} phải là số nguyên ≥ 0 (got ${String(value)})`);
  }
  return n;
}

/** Resolves on SIGINT or SIGTERM, so a command can stop its parts cleanly. */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const done = (signal: NodeJS.Signals) => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve(signal);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

/** A bearer token for the REST API: LOALANG_TOKEN, or a login with LOALANG_USERNAME (admin) and LOALANG_PASSWORD. */
export async function apiToken(server: string): Promise<string> {
  const fromEnv = process.env['LOALANG_TOKEN'];
  if (fromEnv) return fromEnv;
  const password = process.env['LOALANG_PASSWORD'];
  if (!password) {
    throw new Error('set LOALANG_TOKEN, or LOALANG_USERNAME and LOALANG_PASSWORD / cần đặt LOALANG_TOKEN hoặc LOALANG_USERNAME và LOALANG_PASSWORD');
  }
  const res = await fetch(`${server}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: process.env['LOALANG_USERNAME'] ?? 'admin', password }),
  });
  const body = (await res.json()) as { token?: string; error?: { message: string; messageVi: string } };
  if (!res.ok || !body.token) throw new Error(`${body.error?.messageVi ?? ''} / ${body.error?.message ?? res.statusText}`);
  return body.token;
}
