/**
 * Two servers' views of one new database, for the repository tests that race them (issue 16):
 * two pools on PostgreSQL, two connections on SQLite.
 *
 * Single statements race on both dialects. Multi-statement transactions race on PostgreSQL
 * only: two SQLite connections in one Node thread cannot both hold a transaction open (the
 * second waits for the lock synchronously, so the first can never commit); on SQLite they run
 * on one connection (`bTx` is `a`), which serialises them as SQLite's write lock does between processes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshPostgres, type TestDialect } from '@loalang/test-kit';
import { openSqliteFile, postgresKysely, sqliteKysely, type Database } from '../src/store/database.js';
import { migratePostgres, migrateSqlite } from '../src/store/migrate.js';

export interface DatabasePair {
  a: Database;
  b: Database;
  /** For transactions that race: `b` on PostgreSQL, `a` again on SQLite (see above). */
  bTx: Database;
  close(): Promise<void>;
}

export async function openDatabasePair(dialect: TestDialect, prefix: string): Promise<DatabasePair> {
  if (dialect === 'postgres') {
    const url = await freshPostgres(prefix);
    const a = postgresKysely(url);
    await migratePostgres(a);
    const b = postgresKysely(url);
    return { a, b, bTx: b, close: async () => void (await Promise.all([a.destroy(), b.destroy()])) };
  }
  const dir = mkdtempSync(join(tmpdir(), `loalang-${prefix}-`));
  const first = openSqliteFile(join(dir, 'loalang.db'));
  migrateSqlite(first);
  const a = sqliteKysely(first);
  const b = sqliteKysely(openSqliteFile(join(dir, 'loalang.db')));
  return {
    a,
    b,
    bTx: a,
    close: async () => {
      await Promise.all([a.destroy(), b.destroy()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
