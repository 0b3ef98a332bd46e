/** `loalang pki init`'s certificates against Node's own TLS: the pinned CA accepts the server and only it. */
import { describe, expect, it } from 'vitest';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki, writePki } from '../src/pki.js';

async function handshake(pki: ReturnType<typeof makePki>, ca: string, servername: string): Promise<{ ok: boolean; error?: string }> {
  const server = createServer({ cert: pki.serverCert, key: pki.serverKey }, (s) => s.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  try {
    return await new Promise((resolve) => {
      const socket: TLSSocket = connect({ host: '127.0.0.1', port, ca, servername: servername === '127.0.0.1' ? undefined : servername }, () => resolve({ ok: socket.authorized }));
      socket.on('error', (err) => resolve({ ok: false, error: err.message }));
    });
  } finally {
    server.close();
  }
}

describe('pki init', () => {
  const pki = makePki(['loa.example.gov.vn', '10.0.0.5']);

  it('makes a server certificate the CA vouches for, under each name and address', async () => {
    expect(await handshake(pki, pki.caCert, 'loa.example.gov.vn')).toEqual({ ok: true });
    expect(await handshake(pki, pki.caCert, 'localhost')).toEqual({ ok: true });
    expect(await handshake(pki, pki.caCert, '127.0.0.1')).toEqual({ ok: true });
  });

  it('is refused under another name, and by a device pinned to another CA', async () => {
    expect((await handshake(pki, pki.caCert, 'evil.example')).ok).toBe(false);
    const other = makePki(['loa.example.gov.vn']);
    const r = await handshake(pki, other.caCert, 'loa.example.gov.vn');
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/certificate/i);
  });

  it('writes keys readable by the owner only and never overwrites a CA', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loalang-pki-'));
    try {
      const paths = await writePki(join(dir, 'pki'), pki);
      expect(statSync(paths.caKey).mode & 0o777).toBe(0o600);
      expect(statSync(paths.serverKey).mode & 0o777).toBe(0o600);
      await expect(writePki(join(dir, 'pki'), pki)).rejects.toThrow(/already exists/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
