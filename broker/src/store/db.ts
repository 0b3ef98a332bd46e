/** Opens the server's SQLite file in WAL mode and brings its schema up to date. */
import type { SqliteDatabase } from '@loalang/protocol';
import { openSqliteFile } from './database.js';
import { migrateSqlite, sqliteSchemaVersion } from './migrate.js';

export type Db = SqliteDatabase;

export function openDatabase(file: string): Db {
  const db = openSqliteFile(file);
  migrateSqlite(db);
  return db;
}

export const schemaVersion = sqliteSchemaVersion;
export const migrate = migrateSqlite;
