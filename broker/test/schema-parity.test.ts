/**
 * Issue 16: both dialects end at the same schema (tables, columns with type, nullability,
 * default and collation, primary and foreign keys, unique and partial indexes, checks), and
 * PostgreSQL's migrations apply once even when two servers start together.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { freshPostgres, postgresUrl } from '@loalang/test-kit';
import { openSqliteFile, postgresKysely, type Database } from '../src/store/database.js';
import { LATEST_SCHEMA, migratePostgres, migrateSqlite, planPostgres } from '../src/store/migrate.js';
import { migrations } from '../src/store/migrations.js';
import type { SqliteDatabase } from '@loalang/protocol';

type Shape = { columns: string[]; keys: string[]; indexes: string[]; checks: Record<string, number> };

const TYPE: Record<string, string> = { INTEGER: 'integer', REAL: 'real', TEXT: 'text', bigint: 'integer', 'double precision': 'real', text: 'text' };
const normDefault = (d: string | null) => (d === null ? 'null' : d.replace(/::[a-z ]+$/i, '').replace(/^'(.*)'$/, "'$1'"));

function sqliteShape(db: SqliteDatabase): Shape {
  const tables = (db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string; sql: string }[]);
  const shape: Shape = { columns: [], keys: [], indexes: [], checks: {} };
  for (const t of tables) {
    const cols = db.prepare(`PRAGMA table_info(${t.name})`).all() as { name: string; type: string; notnull: number; dflt_value: string | null; pk: number }[];
    for (const c of cols) {
      const nocase = new RegExp(`\\b${c.name}\\b[^,]*COLLATE NOCASE`, 'i').test(t.sql);
      shape.columns.push(`${t.name}.${c.name} ${TYPE[c.type]} ${c.notnull || c.pk ? 'not null' : 'null'} default ${normDefault(c.dflt_value)}${nocase ? ' nocase' : ''}`);
    }
    const pk = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
    if (pk.length) shape.keys.push(`${t.name} primary (${pk.join(', ')})`);
    for (const fk of db.prepare(`PRAGMA foreign_key_list(${t.name})`).all() as { table: string; from: string; to: string; on_delete: string }[]) {
      shape.keys.push(`${t.name}.${fk.from} → ${fk.table}.${fk.to} on delete ${fk.on_delete.toLowerCase()}`);
    }
    for (const ix of db.prepare(`PRAGMA index_list(${t.name})`).all() as { name: string; unique: number; origin: string; partial: number }[]) {
      if (ix.origin === 'pk') continue;
      const on = (db.prepare(`PRAGMA index_info(${ix.name})`).all() as { name: string }[]).map((c) => c.name).join(', ');
      shape.indexes.push(ix.origin === 'u' ? `${t.name} unique (${on})` : `${ix.name} on ${t.name} (${on})${ix.unique ? ' unique' : ''}${ix.partial ? ' partial' : ''}`);
    }
    const checks = (t.sql.match(/\bCHECK\s*\(/gi) ?? []).length;
    if (checks) shape.checks[t.name] = checks;
  }
  for (const part of Object.values(shape)) if (Array.isArray(part)) part.sort();
  return shape;
}

async function postgresShape(db: Database): Promise<Shape> {
  const shape: Shape = { columns: [], keys: [], indexes: [], checks: {} };
  const { rows: cols } = await sql<{ table_name: string; column_name: string; data_type: string; is_nullable: string; column_default: string | null; collation_name: string | null }>`
    SELECT table_name, column_name, data_type, is_nullable, column_default, collation_name FROM information_schema.columns
    WHERE table_schema = 'public' AND table_name <> 'loalang_schema'`.execute(db);
  for (const c of cols) {
    shape.columns.push(`${c.table_name}.${c.column_name} ${TYPE[c.data_type]} ${c.is_nullable === 'NO' ? 'not null' : 'null'} default ${normDefault(c.column_default)}${c.collation_name === 'nocase' ? ' nocase' : ''}`);
  }
  const { rows: constraints } = await sql<{ table: string; name: string; type: string; columns: string[]; ref_table: string | null; ref_columns: string[] | null; on_delete: string }>`
    SELECT c.conrelid::regclass::text AS table, c.conname AS name, c.contype AS type,
           ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS columns,
           c.confrelid::regclass::text AS ref_table,
           ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS ref_columns,
           c.confdeltype AS on_delete
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
    WHERE n.nspname = 'public' AND c.conrelid::regclass::text <> 'loalang_schema'`.execute(db);
  const DELETE: Record<string, string> = { a: 'no action', r: 'restrict', c: 'cascade', n: 'set null', d: 'set default' };
  const backing = new Set<string>();
  for (const c of constraints) {
    if (c.type === 'p') shape.keys.push(`${c.table} primary (${c.columns.join(', ')})`);
    if (c.type === 'f') shape.keys.push(`${c.table}.${c.columns[0]} → ${c.ref_table}.${c.ref_columns![0]} on delete ${DELETE[c.on_delete]}`);
    if (c.type === 'u') shape.indexes.push(`${c.table} unique (${c.columns.join(', ')})`);
    if (c.type === 'c') shape.checks[c.table] = (shape.checks[c.table] ?? 0) + 1;
    if (c.type === 'p' || c.type === 'u') backing.add(c.name);
  }
  const { rows: indexes } = await sql<{ name: string; table: string; columns: string[]; unique: boolean; partial: boolean }>`
    SELECT i.relname AS name, t.relname AS table, x.indisunique AS unique, x.indpred IS NOT NULL AS partial,
           ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n ORDER BY k.o)::text[] AS columns
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = 'public' AND t.relname <> 'loalang_schema'`.execute(db);
  for (const ix of indexes) {
    if (backing.has(ix.name)) continue;
    shape.indexes.push(`${ix.name} on ${ix.table} (${ix.columns.join(', ')})${ix.unique ? ' unique' : ''}${ix.partial ? ' partial' : ''}`);
  }
  for (const part of Object.values(shape)) if (Array.isArray(part)) part.sort();
  return shape;
}

const url = postgresUrl();

describe.skipIf(!url)('the schema on PostgreSQL', () => {
  let db: Database;
  beforeAll(async () => {
    db = postgresKysely(await freshPostgres('schema'));
  });
  afterAll(async () => {
    await db?.destroy();
  });

  it('ends at the same tables, columns, keys, indexes and checks as on SQLite', async () => {
    expect(await migratePostgres(db)).toBe(LATEST_SCHEMA);
    const sqlite = openSqliteFile(':memory:');
    migrateSqlite(sqlite);
    const expected = sqliteShape(sqlite);
    sqlite.close();
    const actual = await postgresShape(db);
    expect(actual.columns).toEqual(expected.columns);
    expect(actual.keys).toEqual(expected.keys);
    expect(actual.indexes).toEqual(expected.indexes);
    expect(actual.checks).toEqual(expected.checks);
    expect(expected.columns.length).toBeGreaterThan(150);
  });

  it('has nothing left to apply, and a second migrate changes nothing', async () => {
    expect((await planPostgres(db)).pending).toEqual([]);
    expect(await migratePostgres(db)).toBe(LATEST_SCHEMA);
  });

  it('applies each step once when two servers start on an empty database together', async () => {
    const target = await freshPostgres('race');
    const a = postgresKysely(target);
    const b = postgresKysely(target);
    try {
      expect(await Promise.all([migratePostgres(a), migratePostgres(b)])).toEqual([LATEST_SCHEMA, LATEST_SCHEMA]);
      const { rows } = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM loalang_schema`.execute(a);
      // One row per step: the steps' count, not the last number (issue 21's branches numbered 23 and 25 before 24 landed).
      expect(Number(rows[0]!.n)).toBe(migrations.length);
    } finally {
      await Promise.all([a.destroy(), b.destroy()]);
    }
  });

  it('keeps the audit log append-only for the server: no update, delete or truncate', async () => {
    await sql`INSERT INTO audit_log (at, action) VALUES ('2026-11-28T00:00:00.000Z', 'test')`.execute(db);
    await expect(sql`UPDATE audit_log SET action = 'forged'`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM audit_log`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`TRUNCATE audit_log`.execute(db)).rejects.toThrow(/append-only/);
    const { rows } = await sql<{ action: string }>`SELECT action FROM audit_log`.execute(db);
    expect(rows.map((r) => r.action)).toEqual(['test']);
  });
});
