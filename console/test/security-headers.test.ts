/**
 * The console's security headers depend on how it is served (issue 14): over plain HTTP (the
 * documented `--plaintext` trial on a closed network, reached by a LAN name) the browser must
 * not be told to upgrade requests to HTTPS or to remember HTTPS, or it loads nothing; over TLS
 * it must be. The preview players play blob: URLs, which the CSP allows and nothing more.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { makePki } from '../src/pki.js';
import { buildTestServer, type TestServer } from './helpers.js';

let t: TestServer | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

const directives = (csp: string) => new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values]));

async function headersOf(server: TestServer) {
  const res = await server.app.inject({ method: 'GET', url: '/' });
  expect(res.statusCode).toBe(200);
  return { csp: directives(String(res.headers['content-security-policy'])), hsts: res.headers['strict-transport-security'], coop: res.headers['cross-origin-opener-policy'] };
}

describe('security headers', () => {
  it('over plain HTTP: no upgrade-insecure-requests, HSTS nor opener policy; blob: audio allowed', async () => {
    t = await buildTestServer();
    const { csp, hsts, coop } = await headersOf(t);
    expect(csp.has('upgrade-insecure-requests')).toBe(false);
    expect(hsts).toBeUndefined();
    expect(coop).toBeUndefined();
    expect(csp.get('media-src')).toEqual(["'self'", 'blob:']);
    expect(csp.get('script-src')).toEqual(["'self'"]);
    expect(csp.get('default-src')).toEqual(["'self'"]);
  });

  it('over TLS: upgrade-insecure-requests, HSTS and the opener policy, and the same media rule', async () => {
    const pki = makePki(['loa.example.gov.vn']);
    t = await buildTestServer({ https: { cert: pki.serverCert, key: pki.serverKey } });
    const { csp, hsts, coop } = await headersOf(t);
    expect(csp.get('upgrade-insecure-requests')).toEqual([]);
    expect(hsts).toMatch(/max-age=\d+/);
    expect(coop).toBe('same-origin');
    expect(csp.get('media-src')).toEqual(["'self'", 'blob:']);
    expect(csp.get('script-src')).toEqual(["'self'"]);
  });
});
