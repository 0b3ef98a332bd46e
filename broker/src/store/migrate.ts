/**
 * Brings a database's schema up to date from the one ordered list in `migrations.ts`, in the
 * dialect's own SQL. SQLite applies each step in its own transaction and keeps the version in
 * `user_version` (as every install before issue 16 did). PostgreSQL applies what is pending in one
 * transaction (its DDL is transactional), keeps the versions in `loalang_schema`, and holds an
 * advisory lock meanwhile, so nodes that start together apply each step once.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { SqliteDatabase } from '@loalang/protocol';
import { migrations, type Migration } from './migrations.js';
import type { Schema } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

/** What `migrate` would do: the version now, and the steps still to apply with their SQL. */
export interface MigrationPlan {
  dialect: Dialect;
  current: number;
  latest: number;
  pending: { version: number; name: string; sql: string }[];
}

/** Any number: the lock only has to be the same for every LoaLang node on one database. */
const POSTGRES_MIGRATION_LOCK = 0x4c6f614c; // "LoaL"

export const LATEST_SCHEMA = Math.max(...migrations.map((m) => m.version));

function ordered(): Migration[] {
  return [...migrations].sort((a, b) => a.version - b.version);
}

function planFrom(dialect: Dialect, current: number): MigrationPlan {
  const pending = ordered()
    .filter((m) => m.version > current)
    .map((m) => ({ version: m.version, name: m.name, sql: (dialect === 'sqlite' ? m.sqlite : m.postgres).trim() }));
  return { dialect, current, latest: LATEST_SCHEMA, pending };
}

export function sqliteSchemaVersion(db: SqliteDatabase): number {
  return db.pragma('user_version', { simple: true }) as number;
}

export function planSqlite(db: SqliteDatabase): MigrationPlan {
  return planFrom('sqlite', sqliteSchemaVersion(db));
}

/** Applies what is pending; returns the version reached. */
export function migrateSqlite(db: SqliteDatabase): number {
  for (const step of planSqlite(db).pending) {
    db.transaction(() => {
      db.exec(step.sql);
      db.pragma(`user_version = ${step.version}`);
    })();
  }
  return sqliteSchemaVersion(db);
}

async function ensureVersionTable(db: Kysely<Schema> | Transaction<Schema>): Promise<void> {
  await sql`CREATE TABLE IF NOT EXISTS loalang_schema (version BIGINT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`.execute(db);
}

async function postgresVersion(db: Kysely<Schema> | Transaction<Schema>): Promise<number> {
  const { rows } = await sql<{ version: number | null }>`SELECT max(version) AS version FROM loalang_schema`.execute(db);
  return Number(rows[0]?.version ?? 0);
}

export async function planPostgres(db: Kysely<Schema>): Promise<MigrationPlan> {
  const { rows } = await sql<{ present: string | null }>`SELECT to_regclass('loalang_schema')::text AS present`.execute(db);
  return planFrom('postgres', rows[0]?.present ? await postgresVersion(db) : 0);
}

export async function migratePostgres(db: Kysely<Schema>): Promise<number> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${POSTGRES_MIGRATION_LOCK})`.execute(trx);
    await ensureVersionTable(trx);
    // Another node may have migrated while this one waited for the lock: read the version under it.
    for (const step of planFrom('postgres', await postgresVersion(trx)).pending) {
      await sql.raw(step.sql).execute(trx);
      await sql`INSERT INTO loalang_schema (version) VALUES (${step.version})`.execute(trx);
    }
    return postgresVersion(trx);
  });
}
