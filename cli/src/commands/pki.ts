/** `loalang pki init`: a private CA and a server certificate for deployments without a public one. */
import { resolve } from 'node:path';
import { makePki, writePki } from '@loalang/console';
import { parse } from './util.js';

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parse(rest, { host: { type: 'string' }, dir: { type: 'string', default: './pki' } });
  const hosts = String(values.host ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  if (sub !== 'init' || hosts.length === 0) {
    process.stderr.write('Dùng / usage: loalang pki init --host loa.example.gov.vn[,10.0.0.5] [--dir ./pki]\n');
    return 2;
  }
  const paths = await writePki(resolve(String(values.dir)), makePki(hosts));
  process.stdout.write(
    `Đã tạo / created:\n  CA:     ${paths.caCert} (copy to every device, caFile in its config)\n  CA key: ${paths.caKey} (keep offline)\n` +
      `  server: ${paths.serverCert}, ${paths.serverKey}\nStart the server with:\n  LOALANG_TLS_CERT=${paths.serverCert} LOALANG_TLS_KEY=${paths.serverKey} loalang server --public-host ${hosts[0]}\n`,
  );
  return 0;
}
