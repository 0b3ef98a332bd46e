import { intOption, parse, waitForSignal } from './util.js';
import { resolve } from 'node:path';
import { startServer, tlsFromEnv } from '@loalang/console';

export async function run(args: string[]): Promise<number> {
  const { values } = parse(args, {
    data: { type: 'string', default: './data' },
    'http-port': { type: 'string', default: '8080' },
    'mqtt-port': { type: 'string' },
    host: { type: 'string', default: '0.0.0.0' },
    'public-host': { type: 'string' },
    plaintext: { type: 'boolean', default: false },
  });
  const httpPort = intOption(values['http-port'], 'http-port');
  const tls = tlsFromEnv();
  // MQTT over TLS listens on 8883 unless told otherwise.
  const mqttPort = intOption(values['mqtt-port'] ?? (tls ? '8883' : '1883'), 'mqtt-port');
  if (!tls && !values.plaintext && process.env['LOALANG_PLAINTEXT'] !== 'true') {
    process.stderr.write(
      'loalang: chưa cấu hình TLS: đặt LOALANG_TLS_CERT và LOALANG_TLS_KEY (tạo bằng "loalang pki init --host <tên máy>"), hoặc chạy không mã hóa với --plaintext (chỉ để thử) / ' +
        'TLS is not configured: set LOALANG_TLS_CERT and LOALANG_TLS_KEY (make them with "loalang pki init --host <name>"), or run unencrypted with --plaintext (trials only)\n',
    );
    return 2;
  }
  // A promise nobody waited for (a library's, on a connection that closed) is logged, and the
  // server goes on serving: the speakers must not lose their server for it.
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`loalang: lỗi không được xử lý (máy chủ vẫn chạy) / unhandled rejection (the server keeps running): ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`);
  });
  const server = await startServer({
    dataDir: resolve(String(values.data)),
    httpPort,
    mqttPort,
    ...(tls ? { tls } : {}),
    host: String(values.host),
    ...(values['public-host'] ? { publicHost: String(values['public-host']) } : {}),
  });
  const out = process.stdout;
  out.write(`LoaLang server\n  console: ${server.urls.http}/\n  api:     ${server.urls.http}/api/v1  (docs ${server.urls.http}/api/docs)\n  mqtt:    ${server.urls.mqtt}\n`);
  if (server.bootstrap.created) {
    const pw = server.bootstrap.generatedPassword;
    out.write(
      pw
        ? `  admin login: admin / ${pw}\n  (mật khẩu chỉ hiện một lần — the password is shown only once)\n`
        : '  admin login: admin / (LOALANG_ADMIN_PASSWORD)\n',
    );
  }
  await waitForSignal();
  await server.stop();
  return 0;
}
