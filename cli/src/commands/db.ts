/**
 * `loalang db migrate [--data DIR] [--dry-run]` brings the server's database up to date (the
 * server also does it at start); `--dry-run` prints what it would apply.
 * `loalang db copy --from FILE --to URL` moves a SQLite install into an empty PostgreSQL
 * database and checks every table (issue 16).
 * The database is `LOALANG_DATABASE_URL` when set (PostgreSQL), else `<data>/loalang.db`.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  copySqliteToPostgres,
  CopyRefused,
  isPostgresUrl,
  migratePostgres,
  migrateSqlite,
  openSqliteFile,
  planPostgres,
  planSqlite,
  postgresKysely,
  redactUrl,
  type MigrationPlan,
} from '@loalang/broker';
import { parse } from './util.js';

const USAGE = 'usage: loalang db migrate [--data DIR] [--dry-run] | loalang db copy --from SQLITE_FILE --to postgres://… / cách dùng: như trên';

function usage(en: string, vi: string): Error {
  return Object.assign(new Error(`${en} (${USAGE})`), { messageVi: vi, code: 'LOA_ERR_USAGE' });
}

function describePlan(plan: MigrationPlan, where: string): string {
  const head = `${where} (${plan.dialect}): schema ${plan.current}, latest ${plan.latest}\n`;
  if (plan.pending.length === 0) return `${head}nothing to apply / không có gì cần áp dụng\n`;
  return `${head}${plan.pending.length} step(s) to apply / số bước cần áp dụng: ${plan.pending.length}\n${plan.pending.map((s) => `\n-- ${s.version}: ${s.name}\n${s.sql}\n`).join('')}`;
}

async function migrate(args: string[]): Promise<number> {
  const { values } = parse(args, { data: { type: 'string', default: './data' }, 'dry-run': { type: 'boolean', default: false } });
  const url = process.env['LOALANG_DATABASE_URL'];
  const out = process.stdout;
  if (url) {
    if (!isPostgresUrl(url)) throw usage(`LOALANG_DATABASE_URL must start with postgres:// (got ${redactUrl(url)})`, 'LOALANG_DATABASE_URL phải bắt đầu bằng postgres://');
    const db = postgresKysely(url, 1);
    try {
      const plan = await planPostgres(db);
      out.write(describePlan(plan, redactUrl(url)));
      if (!values['dry-run'] && plan.pending.length > 0) out.write(`migrated to / đã nâng cấp lên ${await migratePostgres(db)}\n`);
    } finally {
      await db.destroy();
    }
    return 0;
  }
  const file = join(resolve(String(values.data)), 'loalang.db');
  if (!existsSync(file)) throw usage(`no database at ${file}`, `không có cơ sở dữ liệu tại ${file}`);
  const db = openSqliteFile(file);
  try {
    const plan = planSqlite(db);
    out.write(describePlan(plan, file));
    if (!values['dry-run'] && plan.pending.length > 0) out.write(`migrated to / đã nâng cấp lên ${migrateSqlite(db)}\n`);
  } finally {
    db.close();
  }
  return 0;
}

async function copy(args: string[]): Promise<number> {
  const { values } = parse(args, { from: { type: 'string' }, to: { type: 'string' } });
  const from = values.from ? resolve(String(values.from)) : undefined;
  const to = values.to ? String(values.to) : undefined;
  if (!from || !to) throw usage('--from and --to are both needed', 'cần cả --from và --to');
  if (!existsSync(from)) throw usage(`no SQLite file at ${from}`, `không có tệp SQLite tại ${from}`);
  if (!isPostgresUrl(to)) throw usage('--to must be a postgres:// URL', '--to phải là địa chỉ postgres://');
  const out = process.stdout;
  const source = openSqliteFile(from);
  const target = postgresKysely(to, 2);
  try {
    // Both at the latest schema, so every column has its place; the SQLite file is migrated as the server would at its next start.
    const plan = planSqlite(source);
    if (plan.pending.length > 0) out.write(`${from}: schema ${plan.current} → ${migrateSqlite(source)}\n`);
    await migratePostgres(target);
    out.write(`copying / đang sao chép ${from} → ${redactUrl(to)}\n`);
    const result = await copySqliteToPostgres(source, target, { progress: (t) => out.write(`  ${t.table.padEnd(20)} ${String(t.rows).padStart(9)} rows  checksum ${t.checksum}  ok\n`) });
    const rows = result.tables.reduce((n, t) => n + t.rows, 0);
    out.write(`done / xong: ${result.tables.length} tables, ${rows} rows, counts and checksums match / số dòng và mã kiểm khớp\n`);
    out.write('Content files stay in the data folder: start the server with the same --data and LOALANG_DATABASE_URL. / Tệp âm thanh vẫn ở thư mục dữ liệu: chạy server với cùng --data và LOALANG_DATABASE_URL.\n');
    return 0;
  } catch (err) {
    if (err instanceof CopyRefused) {
      process.stderr.write(`loalang db copy: ${err.vi} / ${err.en}\n`);
      return 1;
    }
    throw err;
  } finally {
    source.close();
    await target.destroy();
  }
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'migrate') return migrate(rest);
  if (sub === 'copy') return copy(rest);
  throw usage(`unknown db command "${sub ?? ''}"`, `lệnh db không hợp lệ "${sub ?? ''}"`);
}
