import { resolve } from 'node:path';
import { startServer } from '@loalang/console';
import { parse } from '../main.js';
import { intOption, waitForSignal } from './util.js';

export async function run(args: string[]): Promise<number> {
  const { values } = parse(args, {
    data: { type: 'string', default: './data' },
    'http-port': { type: 'string', default: '8080' },
    'mqtt-port': { type: 'string', default: '1883' },
    host: { type: 'string', default: '0.0.0.0' },
    'public-host': { type: 'string' },
  });
  const server = await startServer({
    dataDir: resolve(String(values.data)),
    httpPort: intOption(values['http-port'], 'http-port'),
    mqttPort: intOption(values['mqtt-port'], 'mqtt-port'),
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
