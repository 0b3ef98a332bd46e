#!/usr/bin/env node
/**
 * `loalang` command line. Each command's module is imported only when that command runs,
 * so `loalang --help` answers without loading the server, SQLite or ffmpeg code.
 */
import { readFileSync } from 'node:fs';

const HELP = `loalang — loa truyền thanh thông minh / smart commune loudspeakers

Usage:
  loalang server [--data DIR] [--http-port N] [--mqtt-port N] [--host ADDR] [--public-host HOST] [--plaintext]
  loalang pki init --host NAME[,NAME…] [--dir DIR]
  loalang agent --config FILE
  loalang demo [--devices N] [--data DIR] [--http-port N] [--mqtt-port N]
  loalang device add --name NAME --area AREA_ID [--server URL]
  loalang live --area AREA_ID [--area AREA_ID…] --input alsa:DEVICE|FILE [--server URL]
               [--priority priority|emergency] [--title TEXT] [--volume 0-100] [--ca FILE]
  loalang db migrate [--data DIR] [--dry-run]
  loalang db copy --from SQLITE_FILE --to postgres://USER@HOST/DB
  loalang amp status --port PATH [--baud N] [--driver loalang|modbus-relay]
  loalang amp on|off|test --port PATH [--baud N]
  loalang amp simulate --port PATH [--baud N]
  loalang release keygen --out FILE
  loalang release pack --version X.Y.Z --key FILE --out FILE [--arch x64|arm64] [--min-previous X.Y.Z]
  loalang release verify --key PUBLIC.json BUNDLE
  loalang --version

Environment:
  LOALANG_DATABASE_URL     postgres://user:password@host:5432/db: PostgreSQL instead of <data>/loalang.db
  LOALANG_ADMIN_PASSWORD   admin password on first start (else a random one is printed once)
  LOALANG_PUBLIC_HOST      host name devices use to reach the server
  LOALANG_TLS_CERT, LOALANG_TLS_KEY   HTTPS and MQTT over TLS (PEM files, e.g. from 'pki init');
                           without them 'server' needs --plaintext (or LOALANG_PLAINTEXT=true)
  LOALANG_LOG_LEVEL        pino level (info)
  LOALANG_TOKEN, LOALANG_USERNAME, LOALANG_PASSWORD   credentials for 'device add' and 'live'
  (all server settings — stream hosts, loudness, TTS service, alarms, retention — are in the README)
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(HELP);
      return 0;
    case '-v':
    case '--version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case 'server':
      return (await import('./commands/server.js')).run(rest);
    case 'agent':
      return (await import('./commands/agent.js')).run(rest);
    case 'demo':
      return (await import('./commands/demo.js')).run(rest);
    case 'device':
      return (await import('./commands/device.js')).run(rest);
    case 'live':
      return (await import('./commands/live.js')).run(rest);
    case 'amp':
      return (await import('./commands/amp.js')).run(rest);
    case 'pki':
      return (await import('./commands/pki.js')).run(rest);
    case 'db':
      return (await import('./commands/db.js')).run(rest);
    case 'release':
      return (await import('./commands/release.js')).run(rest);
    default:
      process.stderr.write(`Unknown command "${command}" / Lệnh không hợp lệ "${command}"\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { message?: string; messageVi?: string; code?: string; port?: number };
    if (e.code === 'EADDRINUSE') {
      e.messageVi = `cổng ${e.port ?? ''} đang được dùng; chọn cổng khác, ví dụ --http-port 0 --mqtt-port 0`;
      e.message = `port ${e.port ?? ''} is already in use; choose another, e.g. --http-port 0 --mqtt-port 0 (any free port)`;
    }
    process.stderr.write(`loalang: ${e.messageVi ? `${e.messageVi} / ` : ''}${e.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
