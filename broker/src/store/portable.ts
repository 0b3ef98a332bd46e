/**
 * The few SQL fragments that SQLite and PostgreSQL spell differently (issue 16). Everything else
 * the repositories write is Kysely's builder or SQL both dialects read the same way.
 */
import { PostgresAdapter, sql, type Kysely, type RawBuilder, type SqlBool, type Transaction } from 'kysely';
import type { Dialect } from './migrate.js';
import type { Schema } from './schema.js';

/** The database, or a transaction on it. */
export type Executor = Kysely<Schema> | Transaction<Schema>;

export function dialectOf(db: Executor): Dialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/**
 * `column IN (values)` with the whole list as one bound parameter, so thousands of ids cost one
 * parameter (SQLite: `json_each`; PostgreSQL: `= ANY(text[])`). An empty list matches nothing.
 */
export function inList(db: Executor, column: string, values: Iterable<string>): RawBuilder<SqlBool> {
  const list = [...values];
  if (dialectOf(db) === 'postgres') return sql<SqlBool>`${sql.ref(column)} = ANY(${list}::text[])`;
  return sql<SqlBool>`${sql.ref(column)} IN (SELECT value FROM json_each(${JSON.stringify(list)}))`;
}

/** The ids as a one-column table `(value)`, for joins and recursive queries. */
export function valuesTable(db: Executor, values: Iterable<string>): RawBuilder<{ value: string }> {
  const list = [...values];
  if (dialectOf(db) === 'postgres') return sql<{ value: string }>`SELECT unnest(${list}::text[]) AS value`;
  return sql<{ value: string }>`SELECT value FROM json_each(${JSON.stringify(list)})`;
}

/**
 * Rows of text values (or nulls) as a table with these column names, to join a batch of composite
 * keys (a device, a play, a content) against a table's key, or to insert a batch. The rows travel as one parameter per
 * column (PostgreSQL: `unnest` of text arrays) or as one JSON array of arrays (SQLite:
 * `json_each`), so a batch of any size costs a few parameters and the statement text stays the same.
 */
export function tuplesTable<C extends string>(db: Executor, columns: readonly C[], rows: readonly (readonly (string | null)[])[]): RawBuilder<Record<C, string>> {
  if (columns.length === 0 || columns.some((c) => !/^[a-z_][a-z0-9_]*$/.test(c))) throw new Error(`tuplesTable: bad columns ${columns.join(', ')}`);
  if (dialectOf(db) === 'postgres') {
    const arrays = columns.map((_, i) => sql`${rows.map((r) => r[i] ?? null)}::text[]`);
    return sql<Record<C, string>>`SELECT * FROM unnest(${sql.join(arrays)}) AS t(${sql.join(columns.map((c) => sql.id(c)))})`;
  }
  const picks = columns.map((c, i) => sql`json_extract(value, ${sql.lit(`$[${i}]`)}) AS ${sql.id(c)}`);
  return sql<Record<C, string>>`SELECT ${sql.join(picks)} FROM json_each(${JSON.stringify(rows)})`;
}

/** A text field of a JSON object held in a TEXT column (`$.field`, one level). */
export function jsonText(db: Executor, column: string, field: string): RawBuilder<string | null> {
  if (!/^[A-Za-z0-9_]+$/.test(field)) throw new Error(`jsonText: bad field ${field}`);
  if (dialectOf(db) === 'postgres') return sql<string | null>`(${sql.ref(column)}::jsonb ->> ${sql.lit(field)})`;
  return sql<string | null>`json_extract(${sql.ref(column)}, ${sql.lit(`$.${field}`)})`;
}

/** Case-insensitive "contains" on a text column, with LIKE's wildcards in `fragment` taken literally. */
export function containsText(column: string, fragment: string): RawBuilder<SqlBool> {
  const pattern = `%${fragment.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql<SqlBool>`lower(${sql.ref(column)}) LIKE lower(${pattern}) ESCAPE '\\'`;
}

/** A WHERE condition from parts joined by AND; no parts: true. */
export function allOf(parts: RawBuilder<SqlBool>[]): RawBuilder<SqlBool> {
  return parts.length ? sql<SqlBool>`(${sql.join(parts, sql` AND `)})` : sql<SqlBool>`1 = 1`;
}

/** List queries' shared filter: a half-open time range on one column, and a set of devices (in SQL, so a LIMIT applies to the caller's rows). */
export function timeAndDeviceWhere(db: Executor, timeColumn: string, q: { from?: string; to?: string; deviceIds?: Set<string> }): RawBuilder<SqlBool> {
  const parts: RawBuilder<SqlBool>[] = [];
  if (q.from) parts.push(sql<SqlBool>`${sql.ref(timeColumn)} >= ${q.from}`);
  if (q.to) parts.push(sql<SqlBool>`${sql.ref(timeColumn)} < ${q.to}`);
  if (q.deviceIds) parts.push(inList(db, 'device_id', q.deviceIds));
  return allOf(parts);
}

/** The database server's clock in ms since the epoch: one clock for every node of a cluster, whatever theirs say. */
export function databaseNowMs(db: Executor): RawBuilder<number> {
  if (dialectOf(db) === 'postgres') return sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`;
  return sql<number>`CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`;
}
