/**
 * The server's database (issue 16): SQLite under `--data` by default, PostgreSQL when
 * `LOALANG_DATABASE_URL` names one. Either way the repositories see one `Kysely<Schema>` and
 * write one set of queries; the schema is brought up to date on open.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { openSqlite, type SqliteDatabase } from '@loalang/protocol';
import { migratePostgres, migrateSqlite, type Dialect } from './migrate.js';
import type { Schema } from './schema.js';

export type { Dialect } from './migrate.js';
export type Database = Kysely<Schema>;

export interface Store {
  readonly db: Database;
  readonly dialect: Dialect;
  /** Where it is, without a password: for logs and `loalang db`. */
  readonly location: string;
  close(): Promise<void>;
}

export interface StoreLocation {
  /** `postgres://…` or `postgresql://…`; absent: the SQLite file. */
  url?: string;
  /** The SQLite file (`:memory:` for a throwaway one). */
  file: string;
}

// BIGINT and NUMERIC come back from pg as strings; every one of ours fits a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));

export function isPostgresUrl(url: string | undefined): url is string {
  return !!url && /^postgres(ql)?:\/\//i.test(url);
}

/** The URL with its password masked. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

export function sqliteKysely(raw: SqliteDatabase): Database {
  return new Kysely<Schema>({ dialect: new SqliteDialect({ database: raw }) });
}

export function openSqliteFile(file: string): SqliteDatabase {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const raw = openSqlite(file);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 5000');
  return raw;
}

export function postgresKysely(url: string, poolSize = 10): Database {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5000 });
  // An idle client that loses its server (a restart) emits 'error'; the pool drops it and makes a new one.
  pool.on('error', () => {});
  return new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
}

/** Opens the database and applies pending migrations. */
export async function openStore(where: StoreLocation, options: { migrate?: boolean } = {}): Promise<Store> {
  const migrate = options.migrate ?? true;
  if (where.url !== undefined && where.url !== '') {
    if (!isPostgresUrl(where.url)) throw new Error(`LOALANG_DATABASE_URL must start with postgres:// (got ${redactUrl(where.url)})`);
    const db = postgresKysely(where.url);
    try {
      if (migrate) await migratePostgres(db);
    } catch (err) {
      await db.destroy();
      throw err;
    }
    return { db, dialect: 'postgres', location: redactUrl(where.url), close: () => db.destroy() };
  }
  const raw = openSqliteFile(where.file);
  if (migrate) migrateSqlite(raw);
  const db = sqliteKysely(raw);
  return { db, dialect: 'sqlite', location: where.file, close: () => db.destroy() };
}
